"""AS505 bind-loop-without-commit."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import DataAccessOp
from alembic_safety.analysis.recorder import OpRecord, Recording
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry
from alembic_safety.rules.data_and_schema_in_one_transaction import transactions
from alembic_safety.rules.unbatched_update import short

#: Statements that lock no rows (reads, settings, transaction control): a loop of these is
#: harmless.
_NO_ROW_LOCKS = frozenset(
    {"SelectStmt", "VariableSetStmt", "VariableShowStmt", "ExplainStmt", "TransactionStmt"}
)


def _statement(record: OpRecord) -> bool:
    """A statement sent to the server: ``op.get_bind().execute(...)`` or ``op.execute(...)``."""
    operation = record.operation
    if isinstance(operation, DataAccessOp):
        return operation.kind == "execute"
    return isinstance(operation, ops.ExecuteSQLOp)


def _writes(record: OpRecord) -> bool:
    """True unless every statement of the SQL is known to lock no rows."""
    if record.sql is None or record.sql.error is not None or not record.sql.statements:
        return True
    return any(s.kind not in _NO_ROW_LOCKS for s in record.sql.statements)


def repeated_statements(recording: Recording) -> Iterator[tuple[OpRecord, int]]:
    """First record and count of each statement site run more than once in one transaction.

    A site is the chain of revision-file lines that led to the call, so a helper called from two
    places is two sites, while a loop calling it is one. A commit between two runs (in the loop,
    or an autocommit block around it) makes them separate transactions.
    """
    for group in transactions(recording.records):
        sites: dict[tuple[int, ...], list[OpRecord]] = {}
        for record in group:
            if record.from_sql is None and record.lines and _statement(record) and _writes(record):
                sites.setdefault(record.lines, []).append(record)
        for records in sites.values():
            if len(records) > 1:
                yield records[0], len(records)


@registry.register
class BindLoopWithoutCommit(Rule):
    """A loop of data statements without a commit between them: one transaction for all batches.

    ## What it does
    Reports a statement run several times from the same place in the revision (a loop) through
    `op.get_bind().execute(...)` or `op.execute(...)`, outside an autocommit block and with no
    `COMMIT` in between. Statements that only read (`SELECT`) are not reported.

    In check mode queries return no rows, so loops driven by results (`for row in result`,
    `while result.rowcount`) run at most once and are not seen here; loops with a bound that
    does not come from the database (`for start in range(0, 1_000_000, 5000)`) are. The dry
    run, which seeds rows, sees the others.

    ## Why is this bad?
    Batching only helps when each batch is committed: inside Alembic's transaction every row a
    batch changed stays locked until the very end, so the loop holds as many row locks as one
    big statement would, for longer, and a failure in the last batch rolls all of them back.

    ## Example
    ```python
    for start in range(0, 100_000, 5000):
        op.get_bind().execute(
            sa.text("UPDATE orders SET total_cents = total * 100 WHERE id > :lo AND id <= :hi"),
            {"lo": start, "hi": start + 5000},
        )
    ```

    ## Use instead
    Run the loop in an autocommit block, so that each statement commits on its own:
    ```python
    with op.get_context().autocommit_block():
        for start in range(0, 100_000, 5000):
            op.get_bind().execute(
                sa.text("UPDATE orders SET total_cents = total * 100 WHERE id > :lo AND id <= :hi"),
                {"lo": start, "hi": start + 5000},
            )
    ```

    ## Fix safety
    No automatic fix: committed batches cannot be rolled back together, so each must be safe to
    re-run (idempotent).
    """

    code = "AS505"
    name = "bind-loop-without-commit"
    risk = Risk.MEDIUM

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        for recording in (revision.upgrade, revision.downgrade):
            if recording is None:
                continue
            for record, count in repeated_statements(recording):
                bind = isinstance(record.operation, DataAccessOp)
                how = "op.get_bind().execute()" if bind else "op.execute()"
                sql = " ".join(record.sql.text.split()) if record.sql is not None else "..."
                line = f" (line {record.line})" if record.line else ""
                yield Violation(
                    message=f"{how} runs {count} times from the same line in one transaction "
                    f"({short(sql)}): every batch's row locks are held until the migration "
                    "commits",
                    help=(
                        "# commit each batch: run the loop in an autocommit block\n"
                        "with op.get_context().autocommit_block():\n"
                        f"    ...  # the loop{line}, unchanged: {short(sql)}"
                    ),
                    record=record,
                )
