"""AS108 add-foreign-key-validated."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class AddForeignKeyValidated(Rule):
    """Adding a foreign key to an existing table without `NOT VALID`.

    ## What it does
    Flags `op.create_foreign_key(...)` / `ADD CONSTRAINT ... FOREIGN KEY` on an existing table
    without `postgresql_not_valid=True`.

    ## Why is this bad?
    PostgreSQL checks every existing row against the referenced table while holding SHARE ROW
    EXCLUSIVE locks on **both** tables: writes to either table wait for the whole scan.

    ## Example
    ```python
    op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    ```python
    op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"],
                          postgresql_not_valid=True)
    # in a later revision (SHARE UPDATE EXCLUSIVE: reads and writes continue):
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id_users")
    ```

    ## Fix safety
    Safe: new rows are checked from the moment the NOT VALID constraint exists.
    """

    code = "AS108"
    name = "add-foreign-key-validated"
    risk = Risk.MEDIUM
    operations = (ops.CreateForeignKeyOp,)
    lock = "SHARE ROW EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup=(
            "CREATE TABLE p (id bigserial PRIMARY KEY); INSERT INTO p DEFAULT VALUES;"
            "CREATE TABLE t (id bigserial PRIMARY KEY, p_id bigint);"
            "INSERT INTO t (p_id) VALUES (1);"
        ),
        statement="ALTER TABLE t ADD CONSTRAINT t_p_fk FOREIGN KEY (p_id) REFERENCES p (id)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.CreateForeignKeyOp)
        if operation.kw.get("postgresql_not_valid"):
            return
        table = qualified(record.table, record.schema)
        referent = operation.kw.get("referent_schema")
        referent_schema = f", referent_schema={py(referent)}" if referent else ""
        name = operation.constraint_name or f"fk_{record.table}_{operation.referent_table}"
        yield Violation(
            message=f'adding foreign key "{name}" on existing table "{table}" scans it while '
            f'blocking writes to "{table}" and "{operation.referent_table}"',
            help=(
                f"op.create_foreign_key({py(name)}, {py(record.table)}, "
                f"{py(operation.referent_table)}, {py(list(operation.local_cols))}, "
                f"{py(list(operation.remote_cols))}, postgresql_not_valid=True"
                f"{schema_kw(record, 'source_schema')}{referent_schema})\n"
                "# in a later revision:\n"
                f'op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT {name}")'
            ),
        )
