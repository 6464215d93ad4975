"""AS113 vacuum-full."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import MaintenanceOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class VacuumFull(Rule):
    """`VACUUM FULL`: rewrites the table with every read and write blocked.

    ## What it does
    Flags `VACUUM FULL` (also `VACUUM (FULL) ...` and a bare `VACUUM FULL` of the whole
    database) in `op.execute(...)`. Plain `VACUUM` and `ANALYZE` are not flagged: they take a
    SHARE UPDATE EXCLUSIVE lock and reads and writes continue.

    ## Why is this bad?
    VACUUM FULL writes a complete new copy of the table and rebuilds all of its indexes while
    holding an ACCESS EXCLUSIVE lock: no SELECT, INSERT, UPDATE or DELETE runs until it is done,
    and it needs free disk space for a second copy. PostgreSQL has no online mode for it. Like
    every VACUUM it also refuses to run inside a transaction block, so inside Alembic's
    transaction the migration fails; moved into `autocommit_block()` it is an outage.

    ## Example
    ```python
    with op.get_context().autocommit_block():
        op.execute("VACUUM FULL events")
    ```

    ## Use instead
    ```python
    # plain VACUUM makes dead space reusable without blocking reads or writes:
    with op.get_context().autocommit_block():
        op.execute("VACUUM (ANALYZE) events")
    # to give the space back to the operating system online, run pg_repack or pg_squeeze
    # outside the migration, e.g.  pg_repack --table=events --dbname=app
    ```

    ## Fix safety
    No automatic fix: shrinking a table online needs an extension (pg_repack, pg_squeeze) run
    outside Alembic.
    """

    code = "AS113"
    name = "vacuum-full"
    risk = Risk.CRITICAL
    operations = (MaintenanceOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    escalation = "needs downtime: blocks all access to the table while it rewrites it"
    # VACUUM refuses to run in a transaction block: observed in autocommit by a sampler, so the
    # table is big enough to keep the statement busy for many samples.
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int);"
        "INSERT INTO t (a) SELECT g FROM generate_series(1, 200000) g;",
        statement="VACUUM FULL t",
        in_transaction=False,
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, MaintenanceOp)
        if operation.command != "VACUUM" or not operation.full:
            return
        if operation.table_name:
            table = qualified(operation.table_name, operation.schema)
            what = f'VACUUM FULL rewrites "{table}" and its indexes'
            target = table
        else:
            what = "VACUUM FULL without a table rewrites every table of the database"
            target = ""
        fails = (
            ""
            if record.in_autocommit
            else "; inside Alembic's transaction it fails outright "
            "(VACUUM cannot run inside a transaction block)"
        )
        yield Violation(
            message=f"{what} under an ACCESS EXCLUSIVE lock: no reads or writes until it is "
            f"done{fails}",
            help=(
                "# VACUUM FULL has no online mode; make dead space reusable without blocking:\n"
                "with op.get_context().autocommit_block():\n"
                f'    op.execute("VACUUM (ANALYZE){f" {target}" if target else ""}")\n'
                "# to shrink the table online, run pg_repack or pg_squeeze outside the migration"
                + (f", e.g. pg_repack --table={target}" if target else "")
            ),
        )
