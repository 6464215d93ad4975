"""AS114 cluster."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import parse_sql
from pglast.parser import ParseError

from alembic_safety.analysis.ops import MaintenanceOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


def cluster_index(record: OpRecord) -> str | None:
    """The index of ``CLUSTER table USING index`` (None without USING, or for a built op)."""
    if record.from_sql is None:
        return None
    try:
        statement = parse_sql(record.from_sql)[0].stmt
    except (ParseError, IndexError):
        return None
    index = getattr(statement, "indexname", None)
    return str(index) if index else None


@registry.register
class ClusterTable(Rule):
    """`CLUSTER`: rewrites the table in index order with every read and write blocked.

    ## What it does
    Flags `CLUSTER table [USING index]` and a bare `CLUSTER` (every table that was clustered
    before) in `op.execute(...)`. `ALTER TABLE ... CLUSTER ON index` is not flagged: it only
    records which index to use, under a SHARE UPDATE EXCLUSIVE lock.

    ## Why is this bad?
    CLUSTER writes a complete new copy of the table sorted by the index and rebuilds every
    index, holding an ACCESS EXCLUSIVE lock the whole time: no reads or writes until it is done,
    and free disk space for a second copy is needed. PostgreSQL has no online mode for it, and
    the order is not maintained afterwards anyway. A bare `CLUSTER` cannot run inside a
    transaction block either.

    ## Example
    ```python
    op.execute("CLUSTER events USING ix_events_created_at")
    ```

    ## Use instead
    ```python
    # only remember the index (SHARE UPDATE EXCLUSIVE, reads and writes continue):
    op.execute("ALTER TABLE events CLUSTER ON ix_events_created_at")
    # then reorder online outside the migration: pg_repack follows the clustering index
    #   pg_repack --table=events --dbname=app      (or pg_squeeze)
    ```

    ## Fix safety
    No automatic fix: reordering a table online needs an extension (pg_repack, pg_squeeze) run
    outside Alembic.
    """

    code = "AS114"
    name = "cluster"
    risk = Risk.CRITICAL
    operations = (MaintenanceOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    escalation = "needs downtime: blocks all access to the table while it rewrites it"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); CREATE INDEX t_a_idx ON t (a);"
        "INSERT INTO t (a) SELECT g FROM generate_series(1, 1000) g;",
        statement="CLUSTER t USING t_a_idx",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, MaintenanceOp)
        if operation.command != "CLUSTER":
            return
        if operation.table_name:
            table = qualified(operation.table_name, operation.schema)
            message = (
                f'CLUSTER rewrites "{table}" and its indexes under an ACCESS EXCLUSIVE lock: '
                "no reads or writes until it is done"
            )
            target = f"--table={table} "
        else:
            message = (
                "CLUSTER without a table rewrites every previously clustered table under ACCESS "
                "EXCLUSIVE locks"
            )
            if not record.in_autocommit:
                message += "; inside Alembic's transaction it fails outright"
            target = ""
        help_text = (
            "# CLUSTER has no online mode; reorder the table outside the migration instead:\n"
            f"#   pg_repack {target}--dbname=<database>   (or pg_squeeze)"
        )
        index = cluster_index(record)
        if operation.table_name and index:
            table = qualified(operation.table_name, operation.schema)
            help_text = (
                "# only remember the index (SHARE UPDATE EXCLUSIVE: reads and writes continue):\n"
                f'op.execute("ALTER TABLE {table} CLUSTER ON {index}")\n'
                "# then reorder online outside the migration (pg_repack follows that index):\n"
                f"#   pg_repack {target}--dbname=<database>   (or pg_squeeze)"
            )
        yield Violation(message=message, help=help_text)
