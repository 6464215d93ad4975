"""AS403 enum-add-value-in-transaction."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import AddEnumValueOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry
from alembic_safety.rules.common import py
from alembic_safety.rules.validate_in_same_transaction import in_transaction


def add_value_sql(operation: AddEnumValueOp) -> str:
    """``ALTER TYPE status ADD VALUE IF NOT EXISTS 'x'`` (re-runnable after a partial deploy)."""
    label = operation.value.replace("'", "''")
    return f"ALTER TYPE {operation.type_name} ADD VALUE IF NOT EXISTS '{label}'"


def autocommit_help(operation: AddEnumValueOp) -> str:
    """Help: the ``ADD VALUE`` in an autocommit block of its own."""
    return (
        f"with op.get_context().autocommit_block():\n    op.execute({py(add_value_sql(operation))})"
    )


@registry.register
class EnumAddValueInTransaction(Rule):
    """`ALTER TYPE ... ADD VALUE` inside a transaction block (fails before PostgreSQL 12).

    ## What it does
    Flags `ALTER TYPE ... ADD VALUE` run in Alembic's transaction (not inside
    `autocommit_block()`) when the target PostgreSQL version is 11 or older.

    ## Why is this bad?
    Before PostgreSQL 12, `ALTER TYPE ... ADD VALUE cannot run inside a transaction block`: the
    migration fails on deploy. Alembic runs every revision in a transaction on PostgreSQL.

    ## Example
    ```python
    op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
    ```

    ## Fix safety
    Safe: `IF NOT EXISTS` makes the statement re-runnable, and adding an enum value takes no
    lock on any table.
    """

    code = "AS403"
    name = "enum-add-value-in-transaction"
    risk = Risk.MEDIUM
    operations = (AddEnumValueOp,)
    max_version = 11

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, AddEnumValueOp)
        if not in_transaction(record, context):
            return
        yield Violation(
            message=f"ALTER TYPE {operation.type_name} ADD VALUE '{operation.value}' runs inside "
            "a transaction block, which PostgreSQL rejects before version 12 (target: "
            f"{context.target_version}): the migration fails",
            help=autocommit_help(operation),
        )
