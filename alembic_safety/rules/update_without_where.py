"""AS501 update-without-where."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import UpdateRowsOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class UpdateWithoutWhere(Rule):
    """Whole-table `UPDATE` in one statement.

    ## What it does
    Flags `UPDATE table SET ...` with no WHERE clause on an existing table, written with
    `op.execute` or run through `op.get_bind().execute`.

    ## Why is this bad?
    One statement rewrites every row in one transaction: each row stays locked until commit
    (concurrent updates wait or deadlock), the table doubles in size until vacuum, and
    replication lags. On a large table it runs for minutes inside the deploy.

    ## Example
    ```python
    op.execute("UPDATE products SET sku = upper(sku)")
    ```

    ## Use instead
    Backfill in keyset batches (never OFFSET), one commit per batch, in a revision of its own:
    ```python
    with op.get_context().autocommit_block():
        last_id = 0
        while True:
            row = op.get_bind().execute(sa.text(
                "WITH batch AS (SELECT id FROM products WHERE id > :last ORDER BY id LIMIT 5000) "
                "UPDATE products SET sku = upper(sku) FROM batch WHERE products.id = batch.id "
                "RETURNING products.id"), {"last": last_id}).fetchall()
            if not row:
                break
            last_id = max(r[0] for r in row)
    ```

    ## Fix safety
    No automatic fix: autogenerate never writes data statements, and only the author knows
    whether the statement is idempotent (re-running a batch must give the same result), which
    the batched form needs.
    """

    code = "AS501"
    name = "update-without-where"
    risk = Risk.HIGH
    operations = (UpdateRowsOp,)
    lock = "ROW EXCLUSIVE"
    rewrites = False
    escalation = "transforms the data of a whole table"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="UPDATE t SET a = 2",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, UpdateRowsOp)
        if operation.has_where:
            return
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'UPDATE without WHERE rewrites every row of "{table}" in one transaction',
            help=(
                "# backfill in keyset batches, one commit per batch:\n"
                "with op.get_context().autocommit_block():\n"
                "    last_id = 0\n"
                "    while True:\n"
                "        rows = op.get_bind().execute(sa.text(\n"
                f'            "WITH batch AS (SELECT id FROM {table} WHERE id > :last ORDER BY id '
                'LIMIT 5000) "\n'
                f'            "UPDATE {table} SET ... FROM batch WHERE {table}.id = batch.id '
                f'RETURNING {table}.id"),\n'
                '            {"last": last_id}).fetchall()\n'
                "        if not rows:\n"
                "            break\n"
                "        last_id = max(r[0] for r in rows)"
            ),
        )
