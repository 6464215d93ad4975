"""AS107 drop-index-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, schema_kw


@registry.register
class DropIndexNonConcurrently(Rule):
    """Dropping an index without `CONCURRENTLY`.

    ## What it does
    Flags `op.drop_index(...)` / `DROP INDEX` without `postgresql_concurrently=True`.

    ## Why is this bad?
    `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table. The drop itself is quick,
    but the lock request queues behind any long-running query on the table and every query
    after it queues behind the drop: a short statement becomes an outage.

    ## Example
    ```python
    op.drop_index("ix_orders_created_at", table_name="orders")
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.drop_index("ix_orders_created_at", table_name="orders",
                      postgresql_concurrently=True, if_exists=True)
    ```

    ## Fix safety
    Safe: the rewriter moves the drop into an autocommit block with CONCURRENTLY.
    """

    code = "AS107"
    name = "drop-index-non-concurrently"
    risk = Risk.MEDIUM
    operations = (ops.DropIndexOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); CREATE INDEX t_a_idx ON t (a);",
        statement="DROP INDEX t_a_idx",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.DropIndexOp)
        if operation.kw.get("postgresql_concurrently"):
            return
        table_arg = f", table_name={py(record.table)}" if record.table else ""
        yield Violation(
            message=f'dropping index "{operation.index_name}" without CONCURRENTLY takes an '
            "ACCESS EXCLUSIVE lock on its table",
            help=(
                "with op.get_context().autocommit_block():\n"
                f"    op.drop_index({py(operation.index_name)}{table_arg}, "
                f"postgresql_concurrently=True, if_exists=True{schema_kw(record)})"
            ),
        )
