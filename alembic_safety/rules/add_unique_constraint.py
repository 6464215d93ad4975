"""AS110 add-unique-constraint."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class AddUniqueConstraint(Rule):
    """Adding a UNIQUE constraint to an existing table without a prebuilt index.

    ## What it does
    Flags `op.create_unique_constraint(...)` / `ADD CONSTRAINT ... UNIQUE (...)` on an existing
    table. `ADD CONSTRAINT ... UNIQUE USING INDEX` is not flagged.

    ## Why is this bad?
    PostgreSQL builds the unique index inside the ALTER TABLE, holding an ACCESS EXCLUSIVE lock
    on the table for the whole build: no reads or writes.

    ## Example
    ```python
    op.create_unique_constraint("uq_users_email", "users", ["email"])
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.create_index("uq_users_email", "users", ["email"], unique=True,
                        postgresql_concurrently=True)
    op.execute("ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email")
    ```

    ## Fix safety
    Safe: the constraint and its index end up identical; the index name becomes the
    constraint's.
    """

    code = "AS110"
    name = "add-unique-constraint"
    risk = Risk.HIGH
    operations = (ops.CreateUniqueConstraintOp, ops.AddColumnOp)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        if isinstance(operation, ops.AddColumnOp):
            if not operation.column.unique:
                return
            columns = [str(operation.column.name)]
            name = f"uq_{record.table}_{operation.column.name}"
        else:
            assert isinstance(operation, ops.CreateUniqueConstraintOp)
            columns = list(operation.columns)
            name = str(operation.constraint_name or f"uq_{record.table}_{'_'.join(columns)}")
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'adding UNIQUE constraint "{name}" on existing table "{table}" builds its '
            "index under an ACCESS EXCLUSIVE lock",
            help=(
                "with op.get_context().autocommit_block():\n"
                f"    op.create_index({py(name)}, {py(record.table)}, "
                f"{py(columns)}, "
                f"unique=True, postgresql_concurrently=True{schema_kw(record)})\n"
                f'op.execute("ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX '
                f'{name}")'
            ),
        )
