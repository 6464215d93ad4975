"""AS406 missing-lock-timeout."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import SetConfigOp, TransactionControlOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry
from alembic_safety.rules.several_tables_locked import (
    ACCESS_EXCLUSIVE,
    created_table,
    table_locks,
)

_DISABLED = frozenset({"0", "0ms", "0s", "0min", "default"})


def _timeout_value(value: str | None) -> str | None:
    """The effective lock_timeout a SET leaves, None when it disables or resets it."""
    if value is None:
        return None
    text = value.strip().strip("'\"").strip().lower()
    if not text or text.replace(" ", "") in _DISABLED:
        return None
    return text


def first_unguarded_lock(records: list[OpRecord]) -> tuple[OpRecord, str, int] | None:
    """The first operation taking ACCESS EXCLUSIVE on an existing table while no
    ``lock_timeout`` is in effect, its table, and how many such operations there are."""
    session: str | None = None  # SET lock_timeout (session-wide)
    local: str | None = None  # SET LOCAL lock_timeout (until the transaction ends)
    created: set[tuple[str | None, str]] = set()
    first: tuple[OpRecord, str] | None = None
    count = 0
    for record in records:
        operation = record.operation
        new = created_table(record)
        if new is not None:
            created.add(new)
        if record.in_autocommit or isinstance(operation, TransactionControlOp):
            local = None
        if isinstance(operation, SetConfigOp) and operation.name.lower() == "lock_timeout":
            value = _timeout_value(operation.value)
            if not operation.local:
                session, local = value, None
            elif not record.in_autocommit:  # SET LOCAL outside a transaction does nothing
                local = value
            continue
        if record.table_is_new or session is not None or local is not None:
            continue
        for lock in table_locks(record):
            if lock.mode == ACCESS_EXCLUSIVE and (lock.schema, lock.table) not in created:
                count += 1
                if first is None:
                    first = (record, lock.name)
                break
    if first is None:
        return None
    return first[0], first[1], count


@registry.register
class MissingLockTimeout(Rule):
    """An ACCESS EXCLUSIVE lock is requested without a `lock_timeout`.

    ## What it does
    Reported once per revision whose upgrade takes an ACCESS EXCLUSIVE lock on an existing table
    (most `ALTER TABLE` forms, renames, drops, `DROP INDEX`) before any
    `SET lock_timeout` in the revision. Not reported when the deploy tooling sets the timeout
    (`lock_timeout_by_runner = true`). Advice for almost every revision: LOW, it never raises a
    revision's risk by itself.

    ## Why is this bad?
    Even an instant `ALTER TABLE` must wait for every transaction using the table to finish; a
    single long-running query makes it wait, and while it waits every other query on the table
    queues behind it. The application stalls although the change itself takes milliseconds. With
    a `lock_timeout` the migration gives up instead and can be retried.

    ## Example
    ```python
    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
    ```

    ## Use instead
    ```python
    op.execute("SET lock_timeout = '5s'")
    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
    ```

    ## Fix safety
    Safe: a timeout only makes a blocked migration fail (and roll back) instead of waiting;
    retry it at a quieter time.
    """

    code = "AS406"
    name = "missing-lock-timeout"
    risk = Risk.LOW

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        if revision.lock_timeout_by_runner:
            return
        found = first_unguarded_lock(revision.upgrade.records)
        if found is None:
            return
        record, table, count = found
        others = f" (and {count - 1} more operation{'s' if count > 2 else ''})" if count > 1 else ""
        yield Violation(
            message=f'ACCESS EXCLUSIVE lock on "{table}"{others} without a lock_timeout: while '
            "it waits for running transactions, every query on the table queues behind it",
            help=(
                "op.execute(\"SET lock_timeout = '5s'\")  # first line of upgrade(): give up "
                "instead of queueing traffic\n"
                "# (or set lock_timeout_by_runner = true when the deploy tooling sets it)"
            ),
            record=record,
            table=table,
        )
