"""AS116 set-logged-unlogged."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import TableStorageOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified


@registry.register
class SetLoggedUnlogged(Rule):
    """`ALTER TABLE ... SET LOGGED / SET UNLOGGED`: a full rewrite under ACCESS EXCLUSIVE.

    ## What it does
    Flags `ALTER TABLE ... SET LOGGED` and `ALTER TABLE ... SET UNLOGGED` on an existing table.

    ## Why is this bad?
    Changing a table's persistence rewrites it and all of its indexes into new files while an
    ACCESS EXCLUSIVE lock blocks every read and write (observed on PostgreSQL 15; the same since
    the commands appeared in 9.5). `SET LOGGED` also writes the whole table to the WAL, so
    replicas and WAL archiving take the full size at once. `SET UNLOGGED` takes the table off
    the replicas — they can no longer read it — and a crash empties it.

    ## Example
    ```python
    op.execute("ALTER TABLE import_staging SET LOGGED")
    ```

    ## Use instead
    ```python
    # choose the persistence when the table is created:
    op.create_table(
        "import_staging",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        prefixes=["UNLOGGED"],
    )
    ```
    For an existing, busy table there is no online way in core PostgreSQL: create a new table
    with the wanted persistence, copy the rows in keyset batches, and swap the names in a short
    transaction — or change it in a maintenance window.

    ## Fix safety
    No automatic fix.
    """

    code = "AS116"
    name = "set-logged-unlogged"
    risk = Risk.HIGH
    operations = (TableStorageOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    verification = Verification(
        setup="CREATE UNLOGGED TABLE t (id bigserial PRIMARY KEY, a int);"
        "INSERT INTO t (a) SELECT g FROM generate_series(1, 1000) g;",
        statement="ALTER TABLE t SET LOGGED",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, TableStorageOp)
        change = operation.change.upper()
        if change not in ("SET LOGGED", "SET UNLOGGED"):
            return
        table = qualified(record.table, record.schema)
        extra = (
            "; every byte goes through the WAL to the replicas at once"
            if change == "SET LOGGED"
            else "; replicas can no longer read it and a crash empties it"
        )
        wanted = "UNLOGGED" if change == "SET UNLOGGED" else "LOGGED"
        args = [py(f"{record.table}_new"), "..."]
        if wanted == "UNLOGGED":
            args.append('prefixes=["UNLOGGED"]')
        if record.schema:
            args.append(f"schema={py(record.schema)}")
        yield Violation(
            message=f'ALTER TABLE "{table}" {change} rewrites the table and its indexes under '
            f"an ACCESS EXCLUSIVE lock{extra}",
            help=(
                f"# no online {change} in PostgreSQL: copy into a new {wanted} table instead\n"
                "# (create it, copy the rows in keyset batches, then swap the names), e.g.\n"
                f"op.create_table({', '.join(args)})\n"
                f"# or run it in a maintenance window: it blocks {table} while it rewrites it"
            ),
        )
