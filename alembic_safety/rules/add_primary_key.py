"""AS111 add-primary-key."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class AddPrimaryKey(Rule):
    """Adding a PRIMARY KEY to an existing table without a prebuilt unique index.

    ## What it does
    Flags `op.create_primary_key(...)` / `ADD PRIMARY KEY (...)` on an existing table.
    `ADD CONSTRAINT ... PRIMARY KEY USING INDEX` is not flagged.

    ## Why is this bad?
    PostgreSQL builds the unique index (and sets the columns NOT NULL, scanning the table) while
    holding an ACCESS EXCLUSIVE lock: no reads or writes until it is done.

    ## Example
    ```python
    op.create_primary_key("pk_events", "events", ["id"])
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.create_index("pk_events", "events", ["id"], unique=True,
                        postgresql_concurrently=True)
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY USING INDEX pk_events")
    ```
    Make the columns NOT NULL first (see `set-not-null`) or the last step scans the table.

    ## Fix safety
    Safe when the columns are already NOT NULL.
    """

    code = "AS111"
    name = "add-primary-key"
    risk = Risk.HIGH
    operations = (ops.CreatePrimaryKeyOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigint NOT NULL, a int); INSERT INTO t VALUES (1, 1);",
        statement="ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.CreatePrimaryKeyOp)
        table = qualified(record.table, record.schema)
        name = operation.constraint_name or f"pk_{record.table}"
        yield Violation(
            message=f'adding PRIMARY KEY "{name}" on existing table "{table}" builds its index '
            "under an ACCESS EXCLUSIVE lock",
            help=(
                "with op.get_context().autocommit_block():\n"
                f"    op.create_index({py(name)}, {py(record.table)}, "
                f"{py(list(operation.columns))}, "
                f"unique=True, postgresql_concurrently=True{schema_kw(record)})\n"
                f'op.execute("ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY USING INDEX '
                f'{name}")'
            ),
        )
