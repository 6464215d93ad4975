"""AS202 rename-table."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import CreateViewOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw


def _old_name_kept_as_view(record: OpRecord, context: RuleContext) -> bool:
    """The documented safe pattern: a view under the old name created later in the revision."""
    return any(
        isinstance(later.operation, CreateViewOp)
        and later.operation.view_name == record.table
        and later.operation.schema == record.schema
        for later in context.recording.records[record.index + 1 :]
    )


@registry.register
class RenameTable(Rule):
    """Renaming a table that running code still uses.

    ## What it does
    Flags `op.rename_table(...)` / `ALTER TABLE ... RENAME TO`.

    ## Why is this bad?
    Application servers running the previous release keep querying the old name and fail until
    they are all replaced.

    ## Example
    ```python
    op.rename_table("customers", "clients")
    ```

    ## Use instead
    Rename, and leave an updatable view under the old name until no release uses it:
    ```python
    op.rename_table("customers", "clients")
    op.execute("CREATE VIEW customers AS SELECT * FROM clients")
    # later release: op.execute("DROP VIEW customers")
    ```

    ## Fix safety
    Simple views over one table are automatically updatable in PostgreSQL; the view must be
    dropped before the table's columns change.
    """

    code = "AS202"
    name = "rename-table"
    risk = Risk.MEDIUM
    operations = (ops.RenameTableOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    escalation = "breaks a public interface: running code still uses the old table name"
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY);",
        statement="ALTER TABLE t RENAME TO t_renamed",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.RenameTableOp)
        if _old_name_kept_as_view(record, context):
            return
        old = qualified(record.table, record.schema)
        new = operation.new_table_name
        yield Violation(
            message=f'renaming table "{old}" to "{new}" breaks running code that still uses '
            f'"{record.table}"',
            help=(
                f"op.rename_table({py(record.table)}, {py(new)}{schema_kw(record)})\n"
                f'op.execute("CREATE VIEW {old} AS SELECT * FROM {new}")'
                "  # updatable; drop it in a later release"
            ),
        )
