"""AS603 empty-downgrade."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import (
    AddConstraintUsingIndexOp,
    AddEnumValueOp,
    AddExclusionConstraintOp,
    AnalysisOp,
    CreateViewOp,
    DataAccessOp,
    PartitionOp,
    SetConfigOp,
    TableStorageOp,
    TriggerOp,
    ValidateConstraintOp,
)
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry
from alembic_safety.rules.downgrade_mirror import describe, inverses

#: Statement kinds (pglast node names) that change no schema: data, settings, maintenance.
#: ``DO`` blocks are counted here too: what they do is not known.
_NOT_SCHEMA = frozenset(
    {
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "CopyStmt",
        "TruncateStmt",
        "VariableSetStmt",
        "VariableShowStmt",
        "TransactionStmt",
        "LockStmt",
        "VacuumStmt",
        "ClusterStmt",
        "ReindexStmt",
        "CheckPointStmt",
        "DiscardStmt",
        "NotifyStmt",
        "ListenStmt",
        "ExplainStmt",
        "CallStmt",
        "DoStmt",
    }
)

#: Statement kinds that do nothing a downgrade would need to undo.
_NOTHING = frozenset(
    {"VariableSetStmt", "VariableShowStmt", "TransactionStmt", "SelectStmt", "ExplainStmt"}
)

_DOWNGRADE_DEF = re.compile(r"^(?:async\s+)?def\s+downgrade\s*\(", re.MULTILINE)


def _changes_schema(record: OpRecord) -> bool:
    operation = record.operation
    if record.from_sql is not None:
        return False  # judged by the statement it came from
    if record.sql is not None:
        return any(
            any(_op_changes_schema(o) for o in s.operations)
            if s.operations
            else s.kind not in _NOT_SCHEMA
            for s in record.sql.statements
        )
    return _op_changes_schema(operation)


#: Analysis ops that do change the schema (the others are data, settings, maintenance, or
#: VALIDATE CONSTRAINT, which a downgrade has nothing to undo for).
_SCHEMA_ANALYSIS_OPS = (
    TableStorageOp,
    PartitionOp,
    TriggerOp,
    AddEnumValueOp,
    AddExclusionConstraintOp,
    AddConstraintUsingIndexOp,
    CreateViewOp,
)


def _op_changes_schema(operation: ops.MigrateOperation) -> bool:
    if isinstance(operation, _SCHEMA_ANALYSIS_OPS):
        return True
    return not isinstance(operation, (AnalysisOp, ops.BulkInsertOp, ops.ExecuteSQLOp))


def _does_something(record: OpRecord) -> bool:
    """Anything but settings, transaction control and reflection; a query through the bind
    counts (it drives a data migration whose loop check mode does not see)."""
    operation = record.operation
    if record.from_sql is not None:
        return False
    if isinstance(operation, DataAccessOp):
        return operation.kind == "execute"
    if record.sql is not None:
        if record.sql.error is not None:
            return True
        return any(
            s.kind not in _NOTHING
            and not (s.operations and all(isinstance(o, _NOTHING_OPS) for o in s.operations))
            for s in record.sql.statements
        )
    return True


#: Operations with nothing for a downgrade to undo (VALIDATE proves, it does not change).
_NOTHING_OPS = (ValidateConstraintOp, SetConfigOp)


def _downgrade_line(source: str) -> int | None:
    match = _DOWNGRADE_DEF.search(source)
    return source.count("\n", 0, match.start()) + 1 if match else None


@registry.register
class EmptyDowngrade(Rule):
    """`downgrade()` does nothing although `upgrade()` changes the schema.

    ## What it does
    Reports a revision whose `downgrade()` records no operation (its body is `pass`, only a
    docstring, or it is missing) while `upgrade()` changes the schema (MEDIUM), or only changes
    data (LOW). Revisions whose upgrade does nothing either (merge revisions) are not reported.
    A downgrade that raises `NotImplementedError` is the explicit way to declare a revision
    irreversible: it is reported at LOW, as information for whoever plans a rollback.

    ## Why is this bad?
    `alembic downgrade` succeeds, moves the version back and leaves the schema as the upgrade
    made it: the rollback you count on during an incident silently does nothing, and the next
    upgrade fails on objects that already exist.

    ## Example
    ```python
    op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))
    # and in downgrade(): pass
    ```

    ## Use instead
    ```python
    def downgrade() -> None:
        op.drop_column("users", "nickname")
    ```
    or, when the change truly cannot be undone, say so:
    ```python
    def downgrade() -> None:
        raise NotImplementedError("irreversible: the old values are not kept")
    ```

    ## Fix safety
    No automatic fix; the help shows the inverse operations Alembic would write.
    """

    code = "AS603"
    name = "empty-downgrade"
    risk = Risk.MEDIUM

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        downgrade = revision.downgrade
        if downgrade is None:
            return
        line = _downgrade_line(revision.source)
        if downgrade.error is not None:
            if downgrade.error.startswith("NotImplementedError"):
                reason = downgrade.error.partition(":")[2].strip()
                yield Violation(
                    message="downgrade() raises NotImplementedError: the revision is declared "
                    f"irreversible{f' ({reason})' if reason else ''}; a rollback stops here",
                    help="# plan a rollback past this revision without `alembic downgrade` "
                    "(restore from a backup, or a forward fix)",
                    risk=Risk.LOW,
                    direction="downgrade",
                    line=downgrade.error_line or line,
                )
            return
        if downgrade.records:
            return
        records = revision.upgrade.records
        schema = [r for r in records if _changes_schema(r)]
        if schema:
            shown = ", ".join(describe(r) for r in schema[:3])
            more = f" and {len(schema) - 3} more" if len(schema) > 3 else ""
            code = [inverse.code for inverse in inverses(records)]
            body = textwrap.indent("\n".join(reversed(code)) if code else "...", "    ")
            yield Violation(
                message=f"downgrade() does nothing, but upgrade() changes the schema ({shown}"
                f"{more}): a rollback would leave it in place",
                help=f"def downgrade() -> None:\n{body}",
                direction="downgrade",
                line=line,
            )
        elif any(_does_something(r) for r in records):
            yield Violation(
                message="downgrade() does nothing; upgrade() changes data: if that cannot be "
                "undone, say so with raise NotImplementedError",
                help="def downgrade() -> None:\n"
                '    raise NotImplementedError("irreversible data migration")',
                risk=Risk.LOW,
                direction="downgrade",
                line=line,
            )
