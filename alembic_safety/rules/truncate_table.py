"""AS303 truncate-table."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import TruncateOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class TruncateTable(Rule):
    """`TRUNCATE` of an existing table in a migration.

    ## What it does
    Flags `op.execute("TRUNCATE ...")` (and through `op.get_bind().execute`).

    ## Why is this bad?
    All rows are gone at once, under an ACCESS EXCLUSIVE lock; with `CASCADE`, rows of every
    referencing table go too. A migration is the wrong place for it.

    ## Example
    ```python
    op.execute("TRUNCATE audit_log")
    ```

    ## Use instead
    Delete in keyset batches from a maintenance job, or drop the table deliberately in its own
    escalated revision after a backup.

    ## Fix safety
    No automatic fix.
    """

    code = "AS303"
    name = "truncate-table"
    risk = Risk.CRITICAL
    operations = (TruncateOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    escalation = "deletes every row of a table"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;",
        statement="TRUNCATE t",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, TruncateOp)
        table = qualified(record.table, record.schema)
        cascade = " and, with CASCADE, of every table referencing it" if operation.cascade else ""
        yield Violation(
            message=f'TRUNCATE deletes every row of "{table}"{cascade} under an ACCESS EXCLUSIVE '
            "lock",
            help=(
                "# delete in batches from a maintenance job instead, e.g.\n"
                f"# DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id "
                "LIMIT 5000)"
            ),
        )
