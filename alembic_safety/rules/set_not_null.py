"""AS104 set-not-null."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class SetNotNull(Rule):
    """Setting `NOT NULL` on an existing column without a validated `CHECK (col IS NOT NULL)`.

    ## What it does
    Flags `op.alter_column(..., nullable=False)` / `ALTER COLUMN ... SET NOT NULL` on an existing
    table unless a validated `CHECK (col IS NOT NULL)` constraint on that column is known — from
    an earlier revision or earlier in this one.

    ## Why is this bad?
    PostgreSQL scans the whole table to prove there is no NULL while holding an ACCESS EXCLUSIVE
    lock: every query on the table waits for the scan. Since PostgreSQL 12 the scan is skipped
    when a validated CHECK constraint already proves it, and validating a CHECK only takes a SHARE
    UPDATE EXCLUSIVE lock (reads and writes continue).

    ## Example
    ```python
    op.alter_column("orders", "status", nullable=False)
    ```

    ## Use instead
    ```python
    op.create_check_constraint("ck_orders_status_not_null", "orders", "status IS NOT NULL",
                               postgresql_not_valid=True)
    # next revision:
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null")
    op.alter_column("orders", "status", nullable=False)
    op.drop_constraint("ck_orders_status_not_null", "orders")
    ```

    ## Fix safety
    Safe on PostgreSQL 12+: the rewriter produces the sequence above.
    """

    code = "AS104"
    name = "set-not-null"
    risk = Risk.MEDIUM
    operations = (ops.AlterColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ALTER COLUMN a SET NOT NULL",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AlterColumnOp)
        if operation.modify_nullable is not False or operation.existing_nullable is False:
            return
        column = operation.column_name
        if (
            context.target_version >= 12
            and (record.table, column) in context.facts.validated_not_null
        ):
            return
        table = qualified(record.table, record.schema)
        check = f"ck_{record.table}_{column}_not_null"
        sk = schema_kw(record)
        yield Violation(
            message=f'SET NOT NULL on "{table}.{column}" scans the whole table under an ACCESS '
            "EXCLUSIVE lock",
            help=(
                f"op.create_check_constraint({py(check)}, {py(record.table)}, "
                f'"{column} IS NOT NULL", postgresql_not_valid=True{sk})\n'
                "# in a later revision (VALIDATE takes SHARE UPDATE EXCLUSIVE only):\n"
                f'op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT {check}")\n'
                f"op.alter_column({py(record.table)}, {py(column)}, nullable=False{sk})"
                "  # no scan on PostgreSQL 12+\n"
                f"op.drop_constraint({py(check)}, {py(record.table)}{sk})"
            ),
        )
