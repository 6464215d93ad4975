"""AS302 drop-table."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class DropTable(Rule):
    """Dropping an existing table.

    ## What it does
    Flags `op.drop_table(...)` / `DROP TABLE` of a table not created in the same revision. In a
    downgrade, dropping a table this revision's upgrade created is a plain rollback and is not
    flagged.

    ## Why is this bad?
    Every row is gone for good, and code of the previous release still querying the table fails.

    ## Example
    ```python
    op.drop_table("legacy_events")
    ```

    ## Use instead
    Stop using the table in a release first; keep a backup (or rename it to
    `legacy_events_deprecated` for a release) and drop it in a revision of its own.

    ## Fix safety
    No automatic fix: losing the data is a human decision; the revision is escalated.
    """

    code = "AS302"
    name = "drop-table"
    risk = Risk.CRITICAL
    operations = (ops.DropTableOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    escalation = "drops a table with data"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;",
        statement="DROP TABLE t",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'dropping table "{table}" deletes all its rows irreversibly',
            help=(
                f"# release code that no longer uses {table}, back it up,\n"
                "# then, in a revision of its own:\n"
                f"op.drop_table({py(record.table)}{schema_kw(record)})"
            ),
        )
