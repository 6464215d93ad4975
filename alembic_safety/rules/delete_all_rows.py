"""AS304 delete-without-where."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import DeleteRowsOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class DeleteWithoutWhere(Rule):
    """`DELETE` without `WHERE`: every row of an existing table.

    ## What it does
    Flags `DELETE FROM table` with no WHERE clause, written with `op.execute` or run through
    `op.get_bind().execute`.

    ## Why is this bad?
    Every row is deleted irreversibly, in one transaction that locks each row and bloats the
    table, blocking concurrent updates of those rows until commit.

    ## Example
    ```python
    op.execute("DELETE FROM sessions")
    ```

    ## Use instead
    Delete only what must go, in keyset batches committed one by one:
    ```python
    with op.get_context().autocommit_block():
        while op.get_bind().execute(sa.text(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
            "WHERE expires_at < now() ORDER BY id LIMIT 5000)")).rowcount:
            pass
    ```

    ## Fix safety
    No automatic fix.
    """

    code = "AS304"
    name = "delete-without-where"
    risk = Risk.CRITICAL
    operations = (DeleteRowsOp,)
    lock = "ROW EXCLUSIVE"
    rewrites = False
    escalation = "deletes every row of a table"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;",
        statement="DELETE FROM t",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, DeleteRowsOp)
        if operation.has_where:
            return
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'DELETE without WHERE removes every row of "{table}"',
            help=(
                f"# delete only what must go, in batches:\n"
                f"# DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE <condition> "
                "ORDER BY id LIMIT 5000)"
            ),
        )
