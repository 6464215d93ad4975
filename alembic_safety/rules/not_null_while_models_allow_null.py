"""AS206 not-null-while-models-allow-null."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry
from alembic_safety.rules.column_still_in_models import model_column
from alembic_safety.rules.common import py, qualified, schema_kw


def _made_not_null(record: OpRecord) -> str | None:
    """The column an operation makes NOT NULL, or None."""
    operation = record.operation
    if isinstance(operation, ops.AlterColumnOp):
        return str(operation.column_name) if operation.modify_nullable is False else None
    if isinstance(operation, ops.AddColumnOp):
        column = operation.column
        return str(column.name) if column.nullable is False else None
    return None


@registry.register
class NotNullWhileModelsAllowNull(Rule):
    """Making a column `NOT NULL` while the project's models still declare it nullable.

    ## What it does
    Flags `op.alter_column(..., nullable=False)` / `ALTER COLUMN ... SET NOT NULL`, and
    `op.add_column` of a `nullable=False` column, in an upgrade when the models of the project
    (env.py's `target_metadata`) declare the column nullable (`nullable=True`,
    `Mapped[Optional[...]]`). Silent when the models cannot be loaded or do not map the column.

    ## Why is this bad?
    The models say NULL is a valid value, so the application may still write it: after the
    deploy those inserts and updates fail with `null value in column ... violates not-null
    constraint`. The models and the schema disagree, and the next autogenerate will try to
    revert the change.

    ## Example
    ```python
    op.alter_column("orders", "status", nullable=False)  # Order.status: Mapped[str | None]
    ```

    ## Use instead
    Make the model non-nullable and make every writer set the column; release that first, then
    set NOT NULL in a later revision (see AS104 for doing it without a long lock):
    ```python
    # revision deployed after the release whose models declare orders.status nullable=False
    op.create_check_constraint("ck_orders_status_not_null", "orders", "status IS NOT NULL",
                               postgresql_not_valid=True)
    ```

    ## Fix safety
    No automatic fix: the models must change first, and that is the application's code.
    """

    code = "AS206"
    name = "not-null-while-models-allow-null"
    risk = Risk.MEDIUM
    operations = (ops.AlterColumnOp, ops.AddColumnOp)

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        if context.models is None or record.direction != "upgrade":
            return
        column = _made_not_null(record)
        if column is None:
            return
        mapped = model_column(context.models, record.table, record.schema, column)
        if mapped is None or not mapped.nullable:
            return
        table = qualified(record.table, record.schema)
        check = f"ck_{record.table}_{column}_not_null"
        yield Violation(
            message=f'"{table}.{column}" becomes NOT NULL while the models still declare it '
            "nullable: the application may still write NULL, and those writes fail after the "
            "deploy",
            help=(
                f"# 1. declare {column} nullable=False in the model of {record.table} "
                f"(Mapped[...] without Optional)\n"
                f"#    and release code that always sets {table}.{column}\n"
                "# 2. then, in a revision deployed after that release (no long lock, see "
                "AS104):\n"
                f"op.create_check_constraint({py(check)}, {py(record.table)}, "
                f"{py(f'{column} IS NOT NULL')}, postgresql_not_valid=True{schema_kw(record)})"
            ),
        )
