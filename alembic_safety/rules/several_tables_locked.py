"""AS405 several-tables-locked-in-one-transaction.

Also home of :func:`table_locks`, what an operation locks strongly (ACCESS EXCLUSIVE or a
SHARE-level mode that blocks writes), which AS406 missing-lock-timeout reuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from alembic.operations import ops

from alembic_safety.analysis.ops import (
    AddConstraintUsingIndexOp,
    AddExclusionConstraintOp,
    LockTableOp,
    MaintenanceOp,
    PartitionOp,
    TableStorageOp,
    TransactionControlOp,
    TriggerOp,
    TruncateOp,
)
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, RuleContext, Violation, registry
from alembic_safety.rules.common import py, qualified

__all__ = ["ACCESS_EXCLUSIVE", "STRONG_MODES", "TableLock", "table_locks"]

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
SHARE = "SHARE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"

#: Lock modes that block writes (or everything): held until commit, they queue the application.
STRONG_MODES = frozenset({SHARE, SHARE_ROW_EXCLUSIVE, "EXCLUSIVE", ACCESS_EXCLUSIVE})


@dataclass(frozen=True)
class TableLock:
    """A strong lock an operation takes on one table (``schema`` None: the search path)."""

    table: str
    schema: str | None
    mode: str

    @property
    def name(self) -> str:
        return qualified(self.table, self.schema)


#: What each operation class locks, as (table, schema, mode) triples; the operation's own table
#: is passed in. Weak locks (SHARE UPDATE EXCLUSIVE and below: VALIDATE, COMMENT, ATTACH on the
#: parent, concurrent index work, DML) are not listed. Checked against PostgreSQL 15 in
#: tests/test_rules_breaking.py.
_Locks = list[tuple[str | None, str | None, str]]
_LOCKS: dict[type[Any], Callable[[Any, str | None, str | None], _Locks]] = {}


def _locks(*classes: type[Any]) -> Callable[[Callable[..., _Locks]], Callable[..., _Locks]]:
    def register(function: Callable[..., _Locks]) -> Callable[..., _Locks]:
        for klass in classes:
            _LOCKS[klass] = function
        return function

    return register


@_locks(
    ops.AddColumnOp,
    ops.DropColumnOp,
    ops.CreateCheckConstraintOp,
    ops.CreateUniqueConstraintOp,
    ops.CreatePrimaryKeyOp,
    ops.DropConstraintOp,
    ops.RenameTableOp,
    ops.DropTableOp,
    TruncateOp,
    TableStorageOp,
    AddExclusionConstraintOp,
    AddConstraintUsingIndexOp,
)
def _access_exclusive(_op: Any, table: str | None, schema: str | None) -> _Locks:
    return [(table, schema, ACCESS_EXCLUSIVE)]


@_locks(ops.AlterColumnOp)
def _alter_column(op: ops.AlterColumnOp, table: str | None, schema: str | None) -> _Locks:
    changes_more_than_comment = (
        op.modify_nullable is not None
        or op.modify_server_default is not False
        or op.modify_name is not None
        or op.modify_type is not None
        or bool(op.kw)
    )
    # A comment alone is COMMENT ON COLUMN: SHARE UPDATE EXCLUSIVE.
    return [(table, schema, ACCESS_EXCLUSIVE)] if changes_more_than_comment else []


@_locks(ops.CreateIndexOp)
def _create_index(op: ops.CreateIndexOp, table: str | None, schema: str | None) -> _Locks:
    return [] if op.kw.get("postgresql_concurrently") else [(table, schema, SHARE)]


@_locks(ops.DropIndexOp)
def _drop_index(op: ops.DropIndexOp, table: str | None, schema: str | None) -> _Locks:
    return [] if op.kw.get("postgresql_concurrently") else [(table, schema, ACCESS_EXCLUSIVE)]


@_locks(ops.CreateForeignKeyOp)
def _foreign_key(op: ops.CreateForeignKeyOp, table: str | None, schema: str | None) -> _Locks:
    return [
        (table, schema or op.kw.get("source_schema"), SHARE_ROW_EXCLUSIVE),
        (str(op.referent_table), op.kw.get("referent_schema"), SHARE_ROW_EXCLUSIVE),
    ]


@_locks(LockTableOp)
def _lock_table(op: LockTableOp, table: str | None, schema: str | None) -> _Locks:
    return [(table, schema, op.mode)] if op.mode in STRONG_MODES else []


@_locks(PartitionOp)
def _partition(op: PartitionOp, table: str | None, schema: str | None) -> _Locks:
    child = (op.partition, schema, ACCESS_EXCLUSIVE)
    if op.action == "attach":  # the parent only gets SHARE UPDATE EXCLUSIVE (12+)
        return [child]
    return [] if op.concurrently else [(table, schema, ACCESS_EXCLUSIVE), child]


@_locks(TriggerOp)
def _trigger(op: TriggerOp, table: str | None, schema: str | None) -> _Locks:
    return [(table, schema, SHARE_ROW_EXCLUSIVE if op.action == "create" else ACCESS_EXCLUSIVE)]


@_locks(MaintenanceOp)
def _maintenance(op: MaintenanceOp, table: str | None, schema: str | None) -> _Locks:
    if op.command == "CLUSTER" or (op.command == "VACUUM" and op.full):
        return [(table, schema, ACCESS_EXCLUSIVE)]
    if op.command == "REINDEX" and not op.concurrently:
        return [(table, schema, SHARE)]
    return []


def table_locks(record: OpRecord) -> list[TableLock]:
    """The strong table locks ``record``'s operation takes (dispatch on its class and bases)."""
    for klass in type(record.operation).__mro__:
        locks = _LOCKS.get(klass)
        if locks is not None:
            return [
                TableLock(table, schema, mode)
                for table, schema, mode in locks(record.operation, record.table, record.schema)
                if table
            ]
    return []


def created_table(record: OpRecord) -> tuple[str | None, str] | None:
    """(schema, table) of a table the operation creates, or None."""
    operation = record.operation
    if isinstance(operation, ops.CreateTableOp) and record.table:
        return (record.schema, record.table)
    return None


@dataclass(frozen=True)
class _Locked:
    lock: TableLock
    record: OpRecord


def transactions(records: list[OpRecord]) -> Iterator[list[_Locked]]:
    """Strong locks on existing tables, grouped by the transaction that holds them.

    Operations in ``autocommit_block()`` (or after a SQL ``COMMIT``) each commit at once and are
    left out; a ``COMMIT``/``BEGIN`` in SQL or an autocommit block ends the current transaction.
    """
    created: set[tuple[str | None, str]] = set()
    current: list[_Locked] = []
    for record in records:
        new = created_table(record)
        if new is not None:
            created.add(new)
        if record.in_autocommit or isinstance(record.operation, TransactionControlOp):
            if current:
                yield current
            current = []
            continue
        if record.table_is_new:
            continue
        for lock in table_locks(record):
            # The table the statement works on; a foreign key's referenced table is locked too,
            # but one ADD FOREIGN KEY cannot be split, and AS108 covers its cost.
            if lock.table == record.table and (lock.schema, lock.table) not in created:
                current.append(_Locked(lock, record))
                break
    if current:
        yield current


#: Locking rules whose operation holds its lock only for a catalog change (milliseconds).
_BRIEF = frozenset({"AS107", "AS121"})


def _held_long(record: OpRecord, revision: RevisionContext) -> bool:
    """True when a locking rule (1xx) flags the operation as a scan, rewrite or index build:
    then the other tables' locks are held for as long as that takes."""
    context = RuleContext(revision.target_version, revision.upgrade, revision.facts)
    return any(
        rule.code.startswith("AS1")
        and rule.code not in _BRIEF
        and any(True for _violation in rule.check(record, context))
        for rule in registry.for_operation(record.operation)
    )


@registry.register
class SeveralTablesLockedInOneTransaction(Rule):
    """Strong locks on several existing tables in one transaction.

    ## What it does
    Reported once per revision when, in one transaction of its upgrade (outside autocommit
    blocks), operations take ACCESS EXCLUSIVE or SHARE-level locks (ALTER TABLE, plain CREATE
    INDEX, constraints, foreign keys, renames, triggers, LOCK TABLE ...) on two or more
    different existing tables **and** one of them holds its lock for long (an operation a
    locking rule flags as a scan, rewrite or index build). Tables created in the revision do
    not count, nor does the table a foreign key references (one `ADD FOREIGN KEY` cannot be
    split). Several brief catalog-only changes are left to `missing-lock-timeout` (AS406).

    ## Why is this bad?
    Every lock is held until the transaction commits: the first table stays blocked while the
    migration waits for, and works on, the next one. Two tables locked in a different order by
    the application (or by another migration) deadlock, and each lock wait queues all traffic
    to the tables already locked.

    ## Example
    ```python
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
    ```

    ## Use instead
    One table per revision, each revision in its own transaction
    (`context.configure(..., transaction_per_migration=True)` in env.py), or one table per
    transaction. Revision 1:
    ```python
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_created_at", "orders", ["created_at"],
                        postgresql_concurrently=True)
    ```
    Revision 2:
    ```python
    op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
    ```

    ## Fix safety
    No automatic fix: splitting a revision changes what is atomic, which is a human decision.
    """

    code = "AS405"
    name = "several-tables-locked-in-one-transaction"
    risk = Risk.MEDIUM

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        for transaction in transactions(revision.upgrade.records):
            tables: list[str] = []
            second: _Locked | None = None
            for locked in transaction:
                if locked.lock.name not in tables:
                    tables.append(locked.lock.name)
                    if len(tables) == 2:
                        second = locked
            if second is None:
                continue
            if not any(_held_long(locked.record, revision) for locked in transaction):
                continue  # only brief catalog locks: AS406 (lock_timeout) is the advice
            names = ", ".join(f'"{name}"' for name in tables)
            later = tables[1:]
            yield Violation(
                message=f"one transaction takes strong locks on {len(tables)} existing tables "
                f"({names}); each is held until commit, so the tables block one another and "
                "can deadlock with the application",
                help=(
                    f"# lock one table per transaction: move the operations on "
                    f"{', '.join(py(name) for name in later)} to a revision of their own and "
                    "run each revision\n"
                    "# in its own transaction: "
                    "context.configure(..., transaction_per_migration=True) in env.py\n"
                    "op.execute(\"SET lock_timeout = '5s'\")  # first line of each revision"
                ),
                record=second.record,
                table=second.lock.name,
            )
            return
