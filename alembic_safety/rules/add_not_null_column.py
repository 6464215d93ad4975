"""AS101 add-not-null-column-without-default."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import column_code, py, qualified, schema_kw


@registry.register
class AddNotNullColumnWithoutDefault(Rule):
    """Adding a `NOT NULL` column without a default to an existing table.

    ## What it does
    Flags `op.add_column(..., sa.Column(..., nullable=False))` (or `ALTER TABLE ... ADD COLUMN ...
    NOT NULL`) with no `server_default`, identity or generated value, on a table that existed
    before this revision.

    ## Why is this bad?
    PostgreSQL has no value to put in the existing rows, so the statement fails with
    `column "x" contains null values` as soon as the table has a single row: the deploy breaks
    in production although it passed on an empty development database. A Python-side `default=`
    does not help, it is not part of the DDL.

    ## Example
    ```python
    op.add_column("orders", sa.Column("status", sa.String(20), nullable=False))
    ```

    ## Use instead
    Expand, migrate, contract: add the column as nullable (or with a constant `server_default`,
    which is catalog-only on PostgreSQL 11+), backfill in batches, then add the constraint
    without a long lock.
    ```python
    op.add_column("orders", sa.Column("status", sa.String(20), nullable=True))
    # later revision, after a batched backfill:
    op.create_check_constraint("ck_orders_status_not_null", "orders",
                               "status IS NOT NULL", postgresql_not_valid=True)
    # next revision:
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null")
    op.alter_column("orders", "status", nullable=False)  # no scan on PostgreSQL 12+
    op.drop_constraint("ck_orders_status_not_null", "orders")
    ```

    ## Fix safety
    The autogenerate rewriter produces the sequence above; the backfill value is the column's
    `server_default` when the model has one, otherwise it must be filled in by hand.
    """

    code = "AS101"
    name = "add-not-null-column-without-default"
    risk = Risk.MEDIUM
    operations = (ops.AddColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    # On an empty table the statement succeeds, so its lock can be observed; with rows it fails.
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY);",
        statement="ALTER TABLE t ADD COLUMN c int NOT NULL",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AddColumnOp)
        column = operation.column
        if column.nullable or column.server_default is not None:
            return
        if column.identity is not None or column.computed is not None or column.primary_key:
            return
        table = qualified(record.table, record.schema)
        name = column.name
        sk = schema_kw(record)
        yield Violation(
            message=f'adding NOT NULL column "{name}" without a default to existing table '
            f'"{table}" fails as soon as the table has rows',
            help=(
                f"op.add_column({py(record.table)}, {column_code(column, nullable=True)}{sk})\n"
                f"# backfill in batches, then in a later revision:\n"
                f'op.create_check_constraint("ck_{record.table}_{name}_not_null", '
                f'{py(record.table)}, "{name} IS NOT NULL", postgresql_not_valid=True{sk})\n'
                "# and in the revision after it (VALIDATE takes SHARE UPDATE EXCLUSIVE only):\n"
                f'op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT '
                f'ck_{record.table}_{name}_not_null")\n'
                f"op.alter_column({py(record.table)}, {py(name)}, nullable=False{sk})\n"
                f'op.drop_constraint("ck_{record.table}_{name}_not_null", {py(record.table)}{sk})'
            ),
        )
