"""AS118 add-exclusion-constraint."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.ddl.postgresql import CreateExcludeConstraintOp

from alembic_safety.analysis.ops import AddExclusionConstraintOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class AddExclusionConstraint(Rule):
    """Adding an `EXCLUDE` constraint to an existing table: an index build under ACCESS EXCLUSIVE.

    ## What it does
    Flags `op.create_exclude_constraint(...)` and `ALTER TABLE ... ADD CONSTRAINT ... EXCLUDE
    USING ...` on an existing table.

    ## Why is this bad?
    PostgreSQL builds the constraint's index and checks every row while holding an ACCESS
    EXCLUSIVE lock on the table: no reads or writes until the build is done. Unlike the other
    constraints there is no way around it in core PostgreSQL: an exclusion constraint cannot be
    added `NOT VALID` and validated later, cannot adopt an index built `CONCURRENTLY` (`USING
    INDEX` only exists for UNIQUE and PRIMARY KEY), and has no concurrent build of its own.

    ## Example
    ```python
    op.create_exclude_constraint("bookings_no_overlap", "bookings", ("during", "&&"), using="gist")
    ```

    ## Use instead
    ```python
    # define the constraint when the table is created (empty, nobody waits for it):
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        postgresql.ExcludeConstraint(("during", "&&"), name="bookings_no_overlap", using="gist"),
    )
    ```
    On an existing, busy table, add it in a maintenance window with a `lock_timeout`, or build
    a new table with the constraint, copy the rows in keyset batches and swap the names.

    ## Fix safety
    No automatic fix: there is no online equivalent.
    """

    code = "AS118"
    name = "add-exclusion-constraint"
    risk = Risk.HIGH
    operations = (AddExclusionConstraintOp, CreateExcludeConstraintOp)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, during tstzrange);"
        "INSERT INTO t (during) SELECT tstzrange(now() + g * interval '1 hour', "
        "now() + (g + 1) * interval '1 hour') FROM generate_series(1, 1000) g;",
        statement="ALTER TABLE t ADD CONSTRAINT t_no_overlap EXCLUDE USING gist (during WITH &&)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        name = getattr(operation, "constraint_name", None)
        table = qualified(record.table, record.schema)
        called = f' "{name}"' if name else ""
        yield Violation(
            message=f'adding exclusion constraint{called} to existing table "{table}" builds its '
            "index and checks every row under an ACCESS EXCLUSIVE lock: no reads or writes until "
            "it is done (exclusion constraints have no NOT VALID, USING INDEX or CONCURRENTLY)",
            help=(
                f"# no online way to add it: run this revision in a maintenance window for "
                f"{table},\n"
                "# failing fast instead of queueing every query behind the lock:\n"
                "op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
                f"# or create a new table with the constraint, copy {table}'s rows in keyset "
                "batches and swap the names"
            ),
        )
