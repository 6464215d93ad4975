"""AS121 trigger-on-existing-table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from alembic_safety.analysis.ops import TriggerOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified

_DISABLED = frozenset({"0", "0ms", "0s", "0min", "0h", "0d", "default"})


def lock_timeout_set(settings: Mapping[str, str | None]) -> bool:
    """True when an earlier ``SET [LOCAL] lock_timeout`` of this revision bounds lock waits."""
    value = settings.get("lock_timeout")
    if value is None:
        return False
    return value.strip().strip("'\"").replace(" ", "").lower() not in _DISABLED


@registry.register
class TriggerOnExistingTable(Rule):
    """`CREATE TRIGGER` / `DROP TRIGGER` on an existing table without a `lock_timeout`.

    ## What it does
    Flags `CREATE [OR REPLACE] TRIGGER ... ON table` and `DROP TRIGGER ... ON table` on a table
    that was not created in the same revision, unless the revision set a `lock_timeout` before
    (`SET lock_timeout` / `SET LOCAL lock_timeout`) or the deploy tooling sets it
    (`lock_timeout_by_runner = true`).

    ## Why is this bad?
    Both are catalog-only and quick, but they need a lock on a busy table: CREATE TRIGGER takes
    SHARE ROW EXCLUSIVE, which blocks every INSERT, UPDATE and DELETE, and DROP TRIGGER takes
    ACCESS EXCLUSIVE, which blocks reads too (both observed on PostgreSQL 15). The lock is held
    until the migration's transaction commits, and while the statement waits behind a
    long-running query, every write (or, for DROP, every query) queues behind it. A
    `lock_timeout` turns that into a quick failure the deploy can retry. Also remember that a
    new trigger runs on every write from then on: make it cheap.

    ## Example
    ```python
    op.execute(
        "CREATE TRIGGER orders_audit AFTER UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION audit_row()"
    )
    ```

    ## Use instead
    ```python
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute(
        "CREATE TRIGGER orders_audit AFTER UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION audit_row()"
    )
    ```
    Keep such a revision short: the lock stays until it commits.

    ## Fix safety
    No automatic fix. Adding the `lock_timeout` by hand is safe: it only limits how long the
    statement may wait (the deploy then fails fast and can be retried).
    """

    code = "AS121"
    name = "trigger-on-existing-table"
    risk = Risk.MEDIUM
    operations = (TriggerOp,)
    lock = "SHARE ROW EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int);"
        "CREATE FUNCTION t_touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NEW; END $$;",
        statement="CREATE TRIGGER t_touch BEFORE UPDATE ON t "
        "FOR EACH ROW EXECUTE FUNCTION t_touch()",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, TriggerOp)
        if context.lock_timeout_by_runner or lock_timeout_set(context.facts.settings):
            return
        table = qualified(record.table, record.schema)
        if operation.action == "drop":
            verb, mode, blocks = "dropping", "an ACCESS EXCLUSIVE", "every read and write"
        else:
            verb, mode, blocks = "creating", "a SHARE ROW EXCLUSIVE", "every write"
        yield Violation(
            message=f'{verb} trigger "{operation.trigger_name}" on existing table "{table}" takes '
            f"{mode} lock that blocks {blocks} until the migration commits, and queues them "
            "all while it waits; no lock_timeout is set",
            help=(
                "# give up quickly instead of queueing traffic behind the lock (then retry):\n"
                "op.execute(\"SET LOCAL lock_timeout = '2s'\")\n"
                f"# ... then the {operation.action.upper()} TRIGGER statement, in a short revision"
            ),
        )
