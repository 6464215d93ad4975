"""AS201 rename-column."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


@registry.register
class RenameColumn(Rule):
    """Renaming a column that running code still uses.

    ## What it does
    Flags `op.alter_column(..., new_column_name=...)` / `ALTER TABLE ... RENAME COLUMN`.

    ## Why is this bad?
    The rename is instant, but application servers still running the previous release keep
    querying the old name and fail until they are all replaced: every deploy has such a window.

    ## Example
    ```python
    op.alter_column("products", "name", new_column_name="title")
    ```

    ## Use instead
    Expand → migrate → contract across deploys: add the new column, write both (trigger or
    application), backfill, switch reads, then drop the old column in a later release.
    ```python
    op.add_column("products", sa.Column("title", sa.String(200), nullable=True))
    # trigger keeping title = name, batched backfill; drop "name" once no release reads it
    ```

    ## Fix safety
    The rewriter generates the shadow-column sequence; it spans several deploys, so it is
    escalated for review.
    """

    code = "AS201"
    name = "rename-column"
    risk = Risk.MEDIUM
    operations = (ops.AlterColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    escalation = "breaks a public interface: running code still uses the old column name"
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int);",
        statement="ALTER TABLE t RENAME COLUMN a TO b",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AlterColumnOp)
        new_name = operation.modify_name
        if not new_name:
            return
        table = qualified(record.table, record.schema)
        old = operation.column_name
        yield Violation(
            message=f'renaming "{table}.{old}" to "{new_name}" breaks running code that still '
            f'uses "{old}"',
            help=(
                f"op.add_column({py(record.table)}, "
                f"sa.Column({py(new_name)}, <type>, nullable=True){schema_kw(record)})\n"
                f"# keep {new_name} = {old} with a trigger, backfill in batches, move the code to "
                f"{py(new_name)},\n# then drop {py(old)} in a later release"
            ),
        )
