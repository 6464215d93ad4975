"""AS205 column-still-in-models.

Also home of :func:`model_column`, the lookup of a column in the project's models (env.py's
``target_metadata``) that AS206 reuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw, type_code

if TYPE_CHECKING:
    from sqlalchemy import MetaData

__all__ = ["model_column", "model_type_code"]


def _model_table(models: MetaData, table: str, schema: str | None) -> sa.Table | None:
    keys: list[str] = []
    if schema:
        keys.append(f"{schema}.{table}")
    elif models.schema:
        keys.append(f"{models.schema}.{table}")
    if schema in (None, "public"):
        keys += [table, f"public.{table}"]
    for key in keys:
        found = models.tables.get(key)
        if found is not None:
            return found
    return None


def model_column(
    models: MetaData | None, table: str | None, schema: str | None, column: str
) -> sa.Column[Any] | None:
    """The column ``table.column`` as the models map it, or None (models unknown or no match).

    Tables are looked up with their schema (``public`` and no schema are the same); columns by
    their database name, case-insensitively when no exact match exists (PostgreSQL folds
    unquoted names in SQL to lower case).
    """
    if models is None or table is None:
        return None
    found = _model_table(models, table, schema)
    if found is None:
        return None
    columns = list(found.columns)
    exact = next((c for c in columns if c.name == column), None)
    if exact is not None:
        return exact
    return next((c for c in columns if c.name.lower() == column.lower()), None)


def model_type_code(column: sa.Column[Any]) -> str:
    """``sa.String(length=200)`` for the model column's type (a TypeDecorator's underlying type)."""
    type_: Any = column.type
    while isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    if not type(type_).__module__.startswith("sqlalchemy"):
        return "<type>"
    return type_code(type_)


def _recreated_later(record: OpRecord, context: RuleContext, column: str) -> bool:
    """A later operation of the revision adds (or renames another column to) ``column``."""
    for later in context.recording.records[record.index + 1 :]:
        if later.table != record.table:
            continue
        operation = later.operation
        if isinstance(operation, ops.AddColumnOp) and operation.column.name == column:
            return True
        if isinstance(operation, ops.AlterColumnOp) and operation.modify_name == column:
            return True
    return False


@registry.register
class ColumnStillInModels(Rule):
    """Dropping or renaming a column that the project's models still map.

    ## What it does
    Flags `op.drop_column(...)` / `ALTER TABLE ... DROP COLUMN` and column renames
    (`op.alter_column(..., new_column_name=...)`, `RENAME COLUMN`) in an upgrade when the
    models of the project (env.py's `target_metadata`) still map the column. Silent when the
    models cannot be loaded, and when the revision adds the column back.

    ## Why is this bad?
    SQLAlchemy selects every mapped column: as soon as the migration has run, every query of
    the running release on that table fails (`column users.phone does not exist`), and so will
    the release being deployed, because its models still map the column too.

    ## Example
    ```python
    op.drop_column("users", "phone")  # while class User still maps phone
    ```

    ## Use instead
    Remove the column from the models and release that first; drop (or rename, in
    expand/contract steps) in a later revision:
    ```python
    # revision deployed after the release whose models no longer map users.phone
    op.drop_column("users", "phone")
    ```

    ## Fix safety
    No automatic fix: the models must change first, and that is the application's code.
    """

    code = "AS205"
    name = "column-still-in-models"
    risk = Risk.HIGH
    operations = (ops.DropColumnOp, ops.AlterColumnOp)
    escalation = "breaks a public interface: the models still map the column"

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        if context.models is None or record.direction != "upgrade":
            return
        operation = record.operation
        new_name: str | None = None
        if isinstance(operation, ops.AlterColumnOp):
            column, new_name = str(operation.column_name), operation.modify_name
            if not new_name:
                return
        else:
            assert isinstance(operation, ops.DropColumnOp)
            column = str(operation.column_name)
        mapped = model_column(context.models, record.table, record.schema, column)
        if mapped is None or _recreated_later(record, context, column):
            return
        table = qualified(record.table, record.schema)
        mapped_table = mapped.table.name if isinstance(mapped.table, sa.Table) else record.table
        what = f'renaming it to "{new_name}"' if new_name else "dropping it"
        if new_name is None:
            help_ = (
                f"# 1. remove {column} from the model of {py(mapped_table)} and release that "
                "code\n"
                "# 2. then, in a revision deployed after that release:\n"
                f"op.drop_column({py(record.table)}, {py(column)}{schema_kw(record)})"
            )
        else:
            help_ = (
                f"# the models still map {py(column)}: add the new column, keep both in sync "
                "(trigger), backfill,\n"
                f"# switch the models to {py(new_name)}, then drop {py(column)} in a later "
                "revision\n"
                f"op.add_column({py(record.table)}, sa.Column({py(new_name)}, "
                f"{model_type_code(mapped)}, nullable=True){schema_kw(record)})"
            )
        yield Violation(
            message=f'the models still map "{table}.{column}": {what} breaks every query of '
            "the running release (and of the release being deployed) that selects it",
            help=help_,
        )
