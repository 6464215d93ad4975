"""AS117 set-tablespace."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import TableStorageOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified

#: The verification needs a second tablespace. CREATE TABLESPACE refuses to run in a transaction
#: block (and a multi-statement setup is one), so the setup creates it through a dblink
#: connection to the same server, as an in-place tablespace (a directory inside the data
#: directory, PostgreSQL 15's developer option ``allow_in_place_tablespaces``): no path on the
#: server's file system is needed. It is created once per cluster and left in place (empty:
#: the scratch databases that put tables in it are dropped); a concurrent creation is tolerated.
VERIFICATION_TABLESPACE = "alembic_safety_verification"
_CREATE_TABLESPACE = f"""
CREATE EXTENSION IF NOT EXISTS dblink;
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_tablespace WHERE spcname = '{VERIFICATION_TABLESPACE}') THEN
    PERFORM dblink_exec(
      format('host=%s port=%s dbname=%s user=%s options=''-c allow_in_place_tablespaces=on''',
             split_part(current_setting('unix_socket_directories'), ',', 1),
             current_setting('port'), current_database(), current_user),
      'CREATE TABLESPACE {VERIFICATION_TABLESPACE} LOCATION ''''');
  END IF;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DROP EXTENSION dblink;
"""


@registry.register
class SetTablespace(Rule):
    """`ALTER TABLE ... SET TABLESPACE`: copies the whole table under ACCESS EXCLUSIVE.

    ## What it does
    Flags `ALTER TABLE ... SET TABLESPACE ...` on an existing table.

    ## Why is this bad?
    Moving a table to another tablespace copies every block of it into a new file while an
    ACCESS EXCLUSIVE lock blocks every read and write; the copy is also written to the WAL. On a
    large table that is a long outage. Only the table moves: its indexes stay where they were
    and each `ALTER INDEX ... SET TABLESPACE` is another locked copy. (A move to the tablespace
    the table is already in does nothing, but still waits for the lock.)

    ## Example
    ```python
    op.execute("ALTER TABLE events SET TABLESPACE archive")
    ```

    ## Use instead
    ```python
    # new tables can be created where they belong without moving anything:
    op.create_table(
        "events_2025",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        postgresql_tablespace="archive",
    )
    ```
    To move an existing, busy table online, run pg_repack outside the migration:
    `pg_repack --table=events --tablespace=archive --moveidx --dbname=app`.

    ## Fix safety
    No automatic fix: an online move needs an extension (pg_repack) run outside Alembic.
    """

    code = "AS117"
    name = "set-tablespace"
    risk = Risk.HIGH
    operations = (TableStorageOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    verification = Verification(
        setup=_CREATE_TABLESPACE + "CREATE TABLE t (id bigserial PRIMARY KEY, a int);"
        "INSERT INTO t (a) SELECT g FROM generate_series(1, 1000) g;",
        statement=f"ALTER TABLE t SET TABLESPACE {VERIFICATION_TABLESPACE}",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, TableStorageOp)
        if not operation.change.upper().startswith("SET TABLESPACE"):
            return
        tablespace = operation.change[len("SET TABLESPACE") :].strip()
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'ALTER TABLE "{table}" SET TABLESPACE {tablespace} copies the whole table '
            "under an ACCESS EXCLUSIVE lock: no reads or writes until it is done",
            help=(
                "# move it online outside the migration instead:\n"
                f"#   pg_repack --table={table} --tablespace={tablespace} --moveidx "
                "--dbname=<database>\n"
                "# or run it in a maintenance window: it blocks the table while it copies it"
            ),
        )
