"""AS115 lock-table."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import LockTableOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified

#: Modes that block writers (and, for ACCESS EXCLUSIVE, readers) until the transaction ends,
#: with what they block. Weaker modes (ACCESS SHARE, ROW SHARE, ROW EXCLUSIVE, SHARE UPDATE
#: EXCLUSIVE) conflict with no reads or writes, only with DDL and VACUUM.
BLOCKING_MODES = {
    "SHARE": "blocks every INSERT, UPDATE and DELETE",
    "SHARE ROW EXCLUSIVE": "blocks every INSERT, UPDATE and DELETE",
    "EXCLUSIVE": "blocks every INSERT, UPDATE, DELETE and SELECT ... FOR UPDATE (only plain "
    "reads continue)",
    "ACCESS EXCLUSIVE": "blocks every read and write",
}


@registry.register
class LockTable(Rule):
    """`LOCK TABLE` in a mode that blocks writes (or reads) until the migration commits.

    ## What it does
    Flags `LOCK TABLE ... IN SHARE / SHARE ROW EXCLUSIVE / EXCLUSIVE / ACCESS EXCLUSIVE MODE`
    (plain `LOCK TABLE t` means ACCESS EXCLUSIVE). The weaker modes — ACCESS SHARE, ROW SHARE,
    ROW EXCLUSIVE and SHARE UPDATE EXCLUSIVE — conflict with no reads or writes and are not
    flagged.

    ## Why is this bad?
    An explicit lock is held until the transaction ends, and Alembic's transaction spans the
    whole revision (or, without `transaction_per_migration`, every revision of the upgrade): the
    table is blocked for the rest of the migration, not for one statement. While the lock
    request waits behind a long-running query, every query after it queues too. ALTER
    statements take the lock they need on their own; an explicit lock is rarely necessary.

    ## Example
    ```python
    op.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    op.add_column("accounts", sa.Column("plan", sa.Text(), nullable=True))
    ```

    ## Use instead
    ```python
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("accounts", sa.Column("plan", sa.Text(), nullable=True))
    ```
    If the lock really is needed — e.g. to take locks on several tables in one fixed order and
    avoid deadlocks — set `lock_timeout` first, keep the revision to the statements that need it,
    and suppress this finding with the reason.

    ## Fix safety
    No automatic fix: whether the explicit lock is needed is a judgement call.
    """

    code = "AS115"
    name = "lock-table"
    risk = Risk.HIGH
    operations = (LockTableOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int);",
        statement="LOCK TABLE t",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, LockTableOp)
        mode = operation.mode.upper()
        blocks = BLOCKING_MODES.get(mode)
        if blocks is None:
            return
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'LOCK TABLE "{table}" IN {mode} MODE {blocks} on the table until the '
            "migration's transaction commits",
            help=(
                "# let each statement take the lock it needs, and give up instead of queueing:\n"
                "op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
                f"# if {table} must stay locked across several statements, keep only those in "
                "this revision\n"
                f"# and suppress: # alembic-safety: ignore[AS115] <why {table} must be locked>"
            ),
        )
