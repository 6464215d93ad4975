"""AS504 data-and-schema-in-one-transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from alembic.operations import ops
from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

from alembic_safety.analysis.ops import (
    AddConstraintUsingIndexOp,
    AddExclusionConstraintOp,
    DataAccessOp,
    DeleteRowsOp,
    InsertRowsOp,
    LockTableOp,
    MaintenanceOp,
    PartitionOp,
    TableStorageOp,
    TransactionControlOp,
    TriggerOp,
    TruncateOp,
    UpdateRowsOp,
    ValidateConstraintOp,
)
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry
from alembic_safety.rules.common import qualified
from alembic_safety.rules.several_tables_locked import table_locks

#: Statements that change rows (the data migration).
DATA_OPS: tuple[type[ops.MigrateOperation], ...] = (
    UpdateRowsOp,
    DeleteRowsOp,
    InsertRowsOp,
    ops.BulkInsertOp,
)

#: Schema changes that lock an existing table until the transaction ends.
LOCKING_DDL: tuple[type[ops.MigrateOperation], ...] = (
    ops.AddColumnOp,
    ops.DropColumnOp,
    ops.AlterColumnOp,
    ops.CreateIndexOp,
    ops.DropIndexOp,
    ops.AddConstraintOp,
    ops.DropConstraintOp,
    ops.RenameTableOp,
    ops.DropTableOp,
    ops.CreateTableCommentOp,
    ops.DropTableCommentOp,
    ValidateConstraintOp,
    AddConstraintUsingIndexOp,
    AddExclusionConstraintOp,
    LockTableOp,
    TruncateOp,
    MaintenanceOp,
    TableStorageOp,
    PartitionOp,
    TriggerOp,
)


def transactions(records: Sequence[OpRecord]) -> list[list[OpRecord]]:
    """The records that run inside Alembic's transaction, split where it commits.

    Records in ``autocommit_block()`` are left out (each runs on its own); the first record after
    such a block, and each record after a ``COMMIT``/``ROLLBACK`` (written as SQL or as
    ``bind.commit()``), starts a new transaction.
    """
    groups: list[list[OpRecord]] = [[]]
    for record in records:
        operation = record.operation
        ends = isinstance(operation, TransactionControlOp) and operation.kind != "begin"
        if record.in_autocommit or ends:
            if groups[-1]:
                groups.append([])
            continue
        groups[-1].append(record)
    return [group for group in groups if group]


class _Relations(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[tuple[str | None, str]] = []

    def visit_RangeVar(self, _ancestors: Any, node: ast.RangeVar) -> None:
        self.names.append((node.schemaname, str(node.relname)))


def _reads_user_tables(sql: str) -> bool:
    """True when the query reads a table that is not a system catalog (``pg_*``,
    ``information_schema``): a catalog lookup guarding a DDL statement is no data migration."""
    try:
        tree = parse_sql(sql)
    except ParseError:
        return True
    visitor = _Relations()
    visitor(tree)
    return any(
        schema not in ("pg_catalog", "information_schema") and not name.startswith("pg_")
        for schema, name in visitor.names
    )


def _is_data(record: OpRecord) -> bool:
    """A row change on an existing table, or a query through the bind that reads one (in check
    mode it returns no rows, so the Python loop it drives, the data migration, is not seen)."""
    operation = record.operation
    if isinstance(operation, DATA_OPS):
        return not record.table_is_new
    if isinstance(operation, DataAccessOp) and operation.kind == "execute":
        sql = record.sql
        return sql is not None and not sql.operations and _reads_user_tables(sql.text)
    return False


def _is_locking_ddl(record: OpRecord) -> bool:
    operation = record.operation
    if not isinstance(operation, LOCKING_DDL) or record.table_is_new:
        return False
    if not table_locks(record):
        return False  # only weak locks (ANALYZE, VALIDATE, LOCK ... ROW EXCLUSIVE): no blocking
    kw = getattr(operation, "kw", None) or {}
    concurrently = bool(kw.get("postgresql_concurrently")) or bool(
        getattr(operation, "concurrently", False)
    )
    return not concurrently


def _describe(record: OpRecord) -> str:
    table = qualified(record.table, record.schema) if record.table else None
    where = f' on "{table}"' if table else ""
    if record.from_sql is not None:
        return f"{record.from_sql.split(None, 1)[0].upper()}{where}"
    if isinstance(record.operation, DataAccessOp) and record.operation.sql:
        first = record.operation.sql.split(None, 1)[0].upper()
        return f"op.get_bind().execute({first} ...)"
    return f"op.{record.operation_name}(){where}"


@registry.register
class DataAndSchemaInOneTransaction(Rule):
    """A data migration and a locking schema change in the same transaction.

    ## What it does
    Reports a revision whose upgrade changes rows of an existing table (`UPDATE`, `DELETE`,
    `INSERT`, `op.bulk_insert`, or queries through `op.get_bind()` that drive a data migration)
    and, in the same transaction, changes the schema of an existing table (add/alter/drop column,
    index, constraint, rename ...). Queries of the system catalogs (`pg_*`,
    `information_schema`), as used to make DDL conditional, are not data migrations.
    Operations inside `autocommit_block()` or after a `COMMIT` run in transactions of their
    own and are not combined. One finding per revision, on the first data statement.

    ## Why is this bad?
    Alembic runs a revision in one transaction. The schema change takes its lock (often ACCESS
    EXCLUSIVE: no reads, no writes) and holds it until commit, so every query on that table
    waits for the whole data migration too; when the data comes first, its row locks are held
    while the schema change waits for its lock, and everything queued behind that lock waits as
    well. A failure in either half rolls back both.

    ## Example
    ```python
    op.add_column("products", sa.Column("sku_normalised", sa.String(64), nullable=True))
    op.execute("UPDATE products SET sku_normalised = upper(sku) WHERE sku IS NOT NULL")
    ```

    ## Use instead
    The schema change in one revision, the data migration in the next (batched, with a commit
    per batch), so that no schema lock is held while rows are changed:
    ```python
    op.add_column("products", sa.Column("sku_normalised", sa.String(64), nullable=True))
    ```

    ## Fix safety
    No automatic fix: split the revision in two.
    """

    code = "AS504"
    name = "data-and-schema-in-one-transaction"
    risk = Risk.MEDIUM

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        for group in transactions(revision.upgrade.records):
            data = next((r for r in group if _is_data(r)), None)
            ddl = next((r for r in group if _is_locking_ddl(r)), None)
            if data is None or ddl is None:
                continue
            what, change = _describe(data), _describe(ddl)
            if ddl.index < data.index:
                consequence = f"the lock {change} takes is held until the data migration commits"
            else:
                consequence = (
                    f"the rows it changes stay locked while {change} waits for its lock and runs"
                )
            yield Violation(
                message=f"data migration ({what}) runs in the same transaction as the schema "
                f"change {change}: {consequence}",
                help=(
                    "# split the revision: the schema change in this revision, the data "
                    "migration in the next one\n"
                    "# (batched, one commit per batch, e.g. inside "
                    "op.get_context().autocommit_block())"
                ),
                record=data,
                table=data.table,
            )
            return
