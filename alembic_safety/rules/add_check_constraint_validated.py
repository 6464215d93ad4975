"""AS109 add-check-constraint-validated."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord, compile_sql
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class AddCheckConstraintValidated(Rule):
    """Adding a CHECK constraint to an existing table without `NOT VALID`.

    ## What it does
    Flags `op.create_check_constraint(...)` / `ADD CONSTRAINT ... CHECK` on an existing table
    without `postgresql_not_valid=True`.

    ## Why is this bad?
    PostgreSQL verifies every row while holding an ACCESS EXCLUSIVE lock: no reads or writes on
    the table for the duration of the scan.

    ## Example
    ```python
    op.create_check_constraint("ck_products_price_positive", "products", "price >= 0")
    ```

    ## Use instead
    ```python
    op.create_check_constraint("ck_products_price_positive", "products", "price >= 0",
                               postgresql_not_valid=True)
    # in a later revision (SHARE UPDATE EXCLUSIVE: reads and writes continue):
    op.execute("ALTER TABLE products VALIDATE CONSTRAINT ck_products_price_positive")
    ```

    ## Fix safety
    Safe: new and updated rows are checked from the moment the NOT VALID constraint exists.
    """

    code = "AS109"
    name = "add-check-constraint-validated"
    risk = Risk.MEDIUM
    operations = (ops.CreateCheckConstraintOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a >= 0)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.CreateCheckConstraintOp)
        if operation.kw.get("postgresql_not_valid"):
            return
        table = qualified(record.table, record.schema)
        name = operation.constraint_name or f"ck_{record.table}"
        condition = compile_sql(operation.condition)
        yield Violation(
            message=f'adding CHECK constraint "{name}" on existing table "{table}" scans it under '
            "an ACCESS EXCLUSIVE lock",
            help=(
                f"op.create_check_constraint({py(name)}, {py(record.table)}, {py(condition)}, "
                f"postgresql_not_valid=True{schema_kw(record)})\n"
                "# in a later revision:\n"
                f'op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT {name}")'
            ),
        )
