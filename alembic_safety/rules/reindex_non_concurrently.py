"""AS112 reindex-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import MaintenanceOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified

#: REINDEX CONCURRENTLY first shipped in PostgreSQL 12.
_CONCURRENTLY_SINCE = 12


def reindex_target(record: OpRecord) -> tuple[str, str | None]:
    """What a REINDEX names: ``("TABLE", "users")``, ``("INDEX", "ix")``, ``("SCHEMA", "s")``..."""
    operation = record.operation
    assert isinstance(operation, MaintenanceOp)
    named = operation.object_name or operation.table_name
    return operation.target.upper(), (qualified(named, operation.schema) if named else None)


def _table_of_index(index: str, record: OpRecord, context: RuleContext) -> OpRecord | None:
    """The record that created ``index`` earlier in this revision, if any."""
    for earlier in context.earlier(record):
        operation = earlier.operation
        if isinstance(operation, ops.CreateIndexOp) and operation.index_name == index:
            return earlier
    return None


@registry.register
class ReindexNonConcurrently(Rule):
    """`REINDEX` without `CONCURRENTLY`: writes blocked and reads stalled while indexes rebuild.

    ## What it does
    Flags `REINDEX TABLE`, `REINDEX INDEX`, `REINDEX SCHEMA` and `REINDEX DATABASE` (and
    `REINDEX SYSTEM`) written without `CONCURRENTLY`.

    ## Why is this bad?
    A plain REINDEX takes a SHARE lock on the table, so every INSERT, UPDATE and DELETE waits
    until all of its indexes are rebuilt, and an ACCESS EXCLUSIVE lock on each index it
    rebuilds. The planner locks every index of a table it plans a query for, so in practice
    most SELECTs on the table stall too. On a large table that is minutes of outage.

    `REINDEX ... CONCURRENTLY` (PostgreSQL 12+) builds a new copy of each index next to the old
    one under SHARE UPDATE EXCLUSIVE (reads and writes continue; each index is locked only
    for the moment of the swap) and swaps them; like every
    CONCURRENTLY form it cannot run inside a transaction block, so it goes in
    `autocommit_block()`. The rule also fires when the target is older than PostgreSQL 12,
    where `CONCURRENTLY` does not exist: the lock is the same, and the help then shows the
    manual equivalent (build a copy with `CREATE INDEX CONCURRENTLY`, drop the old index
    concurrently, rename the copy; for the index of a PRIMARY KEY or UNIQUE constraint, swap the
    constraint with `ADD CONSTRAINT ... USING INDEX` instead). `REINDEX SYSTEM` has no
    concurrent form at all: catalog indexes do not belong in a migration.

    ## Example
    ```python
    op.execute("REINDEX TABLE users")
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.execute("REINDEX TABLE CONCURRENTLY users")
    ```

    ## Fix safety
    No automatic fix. Applying the help by hand is safe on PostgreSQL 12+ (the result is the
    same set of indexes), but a concurrent rebuild that fails leaves an invalid `*_ccnew` index
    behind, which must be dropped before retrying.
    """

    code = "AS112"
    name = "reindex-non-concurrently"
    risk = Risk.HIGH
    operations = (MaintenanceOp,)
    lock = "SHARE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); CREATE INDEX t_a_idx ON t (a);"
        "INSERT INTO t (a) SELECT g FROM generate_series(1, 1000) g;",
        statement="REINDEX TABLE t",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, MaintenanceOp)
        if operation.command != "REINDEX" or operation.concurrently:
            return
        kind, target = reindex_target(record)
        what = f"REINDEX {kind}{f' {target}' if target else ''}"
        table = None
        index_name = operation.object_name or operation.table_name
        if kind == "INDEX" and index_name:
            created = _table_of_index(index_name, record, context)
            if created is not None and (created.table_is_new or context.undoes_upgrade(created)):
                return
            table = created.table if created is not None else None
        if kind == "SYSTEM":
            yield Violation(
                message="REINDEX SYSTEM rebuilds the system catalogs' indexes under exclusive "
                "locks and has no CONCURRENTLY form; it does not belong in a migration",
                help="# remove it from the migration; run it in a maintenance window if needed",
            )
            return
        if kind == "INDEX":
            blocks = (
                "blocks writes to its table (SHARE lock) and the queries that use the index "
                "(ACCESS EXCLUSIVE on it) until it is rebuilt"
            )
        elif kind == "TABLE":
            blocks = (
                "blocks writes to the table (SHARE lock) and the queries that use its indexes "
                "(ACCESS EXCLUSIVE on each index) until every index is rebuilt"
            )
        else:
            blocks = (
                "blocks writes to every table in it, one table at a time (SHARE lock), and the "
                "queries that use their indexes (ACCESS EXCLUSIVE on each index)"
            )
        message = f"{what} without CONCURRENTLY {blocks}"
        if kind in ("SCHEMA", "DATABASE") and not record.in_autocommit:
            message += f"; REINDEX {kind} also cannot run inside Alembic's transaction"
        yield Violation(
            message=message,
            help=self._help(kind, target, table, context.target_version),
            table=table,
        )

    @staticmethod
    def _help(kind: str, target: str | None, table: str | None, version: int) -> str:
        if version >= _CONCURRENTLY_SINCE:
            name = f" {target}" if target else ""
            return (
                "with op.get_context().autocommit_block():\n"
                f'    op.execute("REINDEX {kind} CONCURRENTLY{name}")'
            )
        index = target if kind == "INDEX" and target else "<index>"
        on = target if kind == "TABLE" and target else table or "<table>"
        return (
            f"# PostgreSQL {version} has no REINDEX CONCURRENTLY (it arrived in 12): rebuild "
            "each index as a copy and swap\n"
            "with op.get_context().autocommit_block():\n"
            f'    op.execute("CREATE INDEX CONCURRENTLY {index}_new ON {on} (...)")  '
            f"# same definition as pg_get_indexdef('{index}'::regclass)\n"
            f'    op.execute("DROP INDEX CONCURRENTLY {index}")\n'
            f'    op.execute("ALTER INDEX {index}_new RENAME TO {index}")'
        )
