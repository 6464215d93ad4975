"""AS301 drop-column."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class DropColumn(Rule):
    """Dropping a column (its data is gone, and running code may still read it).

    ## What it does
    Flags `op.drop_column(...)` / `ALTER TABLE ... DROP COLUMN` on an existing table. In a
    downgrade, dropping a column that this revision's upgrade added is a plain rollback and is
    not flagged.

    ## Why is this bad?
    The column's data cannot be recovered without a backup, and code of the previous release
    that selects the column (SQLAlchemy selects every mapped column) fails until it is replaced.
    With `CASCADE`, indexes, views and constraints using the column vanish too.

    ## Example
    ```python
    op.drop_column("users", "phone")
    ```

    ## Use instead
    Contract in its own revision, deployed after the release that stopped using the column
    (remove it from the model first, or mark it `deferred` / `query_expression`):
    ```python
    # alembic-safety: ignore[AS301] phone unused since release 2024.06, backed up to s3://...
    op.drop_column("users", "phone")
    ```

    ## Fix safety
    No automatic fix: whether the data may go is a human decision; the revision is escalated.
    """

    code = "AS301"
    name = "drop-column"
    risk = Risk.HIGH
    operations = (ops.DropColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    escalation = "drops a column with data"
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t DROP COLUMN a",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.DropColumnOp)
        column = operation.column_name
        table = qualified(record.table, record.schema)
        cascade = (
            " with CASCADE (dependent objects go too)"
            if operation.kw.get("postgresql_cascade")
            else ""
        )
        yield Violation(
            message=f'dropping column "{table}.{column}"{cascade} loses its data and breaks '
            "running code that still selects it",
            help=(
                f"# 1. release code that no longer reads or writes {record.table}.{column}\n"
                "# 2. then, in a revision of its own deployed after that release:\n"
                f"op.drop_column({py(record.table)}, {py(column)}{schema_kw(record)})"
            ),
        )
