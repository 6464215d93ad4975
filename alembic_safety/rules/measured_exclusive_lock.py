"""AS701 measured-exclusive-lock."""

from __future__ import annotations

from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, registry


@registry.register
class MeasuredExclusiveLock(Rule):
    """The dry run saw the upgrade block writes to a table that already existed.

    ## What it does
    Reported by `safety-check` from the dry run's measurements, not from the revision's code:
    while the upgrade ran on the throwaway database, `pg_locks` showed it holding an ACCESS
    EXCLUSIVE lock (or the SHARE lock of an index build, which blocks writes) on a table
    created by an earlier revision. When a static finding on that table already says so, that
    finding is marked "confirmed by the dry run" instead and this one is not added. Its risk is
    MEDIUM when the lock was held longer than 100 ms on the seeded rows, LOW otherwise.

    ## Why is this bad?
    The linter reads Alembic operations and the SQL in `op.execute()`; SQL it cannot see
    (built at run time, inside a `DO` block or a function, issued by a helper library) escapes
    it. On a busy production table an ACCESS EXCLUSIVE lock stops every query, and queries
    queue up behind the lock request while it waits for running transactions.

    ## Example
    ```python
    op.execute(
        "DO $$ BEGIN EXECUTE 'ALTER TABLE orders ALTER COLUMN status SET NOT NULL'; END $$"
    )
    ```

    ## Use instead
    ```python
    # write the statement where the linter can see it, then follow its advice, e.g.
    op.execute(
        "ALTER TABLE orders ADD CONSTRAINT orders_status_not_null "
        "CHECK (status IS NOT NULL) NOT VALID"
    )
    ```

    ## Fix safety
    No automatic fix: the dry run only knows which table was locked, not which statement did
    it. Find the statement, write it as an Alembic operation or plain `op.execute()` SQL, and
    the static rules will say what to write instead.
    """

    code = "AS701"
    name = "measured-exclusive-lock"
    risk = Risk.MEDIUM
