"""AS702 measured-table-rewrite."""

from __future__ import annotations

from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, registry


@registry.register
class MeasuredTableRewrite(Rule):
    """The dry run saw the upgrade rewrite a table that already existed.

    ## What it does
    Reported by `safety-check` from the dry run's measurements, not from the revision's code:
    after the upgrade ran on the throwaway database, a table created by an earlier revision
    had a new `pg_class.relfilenode`, so PostgreSQL wrote a new copy of it. When a static
    finding on that table already says the operation rewrites it, that finding is marked
    "confirmed by the dry run" instead and this one is not added.

    ## Why is this bad?
    A rewrite copies every row and rebuilds every index while holding an ACCESS EXCLUSIVE
    lock: on a large table no query runs for minutes, and the disk needs room for a second
    copy. The linter missed it because the statement was hidden from it (built at run time,
    inside a `DO` block or a function, issued by a helper library).

    ## Example
    ```python
    op.execute(
        "DO $$ BEGIN EXECUTE 'ALTER TABLE orders ALTER COLUMN id TYPE bigint'; END $$"
    )
    ```

    ## Use instead
    ```python
    # write the statement where the linter can see it, then follow its advice (AS105): add a
    # new column, backfill it in batches, and swap the columns in a later revision
    op.add_column("orders", sa.Column("id_new", sa.BigInteger(), nullable=True))
    ```

    ## Fix safety
    No automatic fix: the dry run only knows which table was rewritten, not which statement
    did it.
    """

    code = "AS702"
    name = "measured-table-rewrite"
    risk = Risk.HIGH
