"""AS203 drop-default."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import default_sql, py, qualified, schema_kw


def drops_default(operation: ops.AlterColumnOp) -> bool:
    """``server_default=None`` (Alembic's ``False`` means "unchanged"), or ``SET DEFAULT NULL``."""
    default = operation.modify_server_default
    if default is None:
        return True
    if default is False:
        return False
    sql = default_sql(default)
    return sql is not None and sql.strip().strip("()").strip().upper() == "NULL"


@registry.register
class DropDefault(Rule):
    """Dropping a column's server default that running code may rely on.

    ## What it does
    Flags `op.alter_column(..., server_default=None)` / `ALTER COLUMN ... DROP DEFAULT` (or
    `SET DEFAULT NULL`) on an existing table.

    ## Why is this bad?
    Code that inserts rows without naming the column relies on the default. Once it is gone,
    those inserts fail (`null value in column ... violates not-null constraint`) on a NOT NULL
    column, or silently store NULL on a nullable one — and the release still running during the
    deploy is such code. The statement itself is quick but takes an ACCESS EXCLUSIVE lock.

    ## Example
    ```python
    op.alter_column("orders", "status", server_default=None)
    ```

    ## Use instead
    First release code that always writes the column (a value on every INSERT, or a Python-side
    `default=` in the model); drop the server default in a later revision, once no running
    release depends on it:
    ```python
    # alembic-safety: ignore[AS203] every writer sets orders.status since release 2024.06
    op.alter_column("orders", "status", server_default=None)
    ```

    ## Fix safety
    No automatic fix: only a human can tell that no running code inserts without the column.
    """

    code = "AS203"
    name = "drop-default"
    risk = Risk.MEDIUM
    operations = (ops.AlterColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    escalation = "breaks a public interface: running code may insert without the column"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int NOT NULL DEFAULT 0);"
        "INSERT INTO t DEFAULT VALUES;",
        statement="ALTER TABLE t ALTER COLUMN a DROP DEFAULT",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AlterColumnOp)
        if not drops_default(operation):
            return
        column = operation.column_name
        if (
            record.direction == "downgrade"
            and (record.table, column) in context.made_by_upgrade.columns
        ):
            return
        table = qualified(record.table, record.schema)
        if operation.existing_nullable is False:
            effect = "fails (NOT NULL)"
        elif operation.existing_nullable is True:
            effect = "writes NULL"
        else:
            effect = "fails (NOT NULL) or writes NULL"
        yield Violation(
            message=f'dropping the default of "{table}.{column}": running code that inserts '
            f"without the column then {effect}",
            help=(
                f"# 1. release code that writes {record.table}.{column} on every INSERT (or a "
                "Python-side default= in the model)\n"
                "# 2. then, in a revision deployed after that release:\n"
                f"op.alter_column({py(record.table)}, {py(column)}, server_default=None"
                f"{schema_kw(record)})"
            ),
        )
