"""AS106 create-index-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw, type_code


def index_columns_code(operation: ops.CreateIndexOp) -> str:
    """``["email", sa.text("lower(name)")]``: names stay names, expressions stay expressions."""
    items = [
        py(column) if isinstance(column, str) else f"sa.text({py(str(column))})"
        for column in operation.columns
    ]
    return f"[{', '.join(items)}]"


@registry.register
class CreateIndexNonConcurrently(Rule):
    """Creating an index on an existing table without `CONCURRENTLY`.

    ## What it does
    Flags `op.create_index(...)` / `CREATE INDEX` on a table that existed before this revision
    unless `postgresql_concurrently=True` (`CREATE INDEX CONCURRENTLY`) is used.

    ## Why is this bad?
    A plain `CREATE INDEX` holds a SHARE lock for the whole build: reads continue but every
    INSERT, UPDATE and DELETE on the table waits, for minutes on a large table.

    ## Example
    ```python
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_created_at", "orders", ["created_at"],
                        postgresql_concurrently=True, if_not_exists=True)
    ```
    `CONCURRENTLY` cannot run inside a transaction, hence the autocommit block; if a concurrent
    build fails it leaves an INVALID index behind, which `if_not_exists=True` would keep, so drop
    it (`DROP INDEX CONCURRENTLY IF EXISTS`) before retrying.

    ## Fix safety
    Safe: the rewriter moves the index into an autocommit block with CONCURRENTLY.
    """

    code = "AS106"
    name = "create-index-non-concurrently"
    risk = Risk.HIGH
    operations = (ops.CreateIndexOp, ops.AddColumnOp)
    lock = "SHARE"
    rewrites = False
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="CREATE INDEX t_a_idx ON t (a)",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        if isinstance(operation, ops.AddColumnOp):
            yield from self._indexed_column(record, operation)
            return
        assert isinstance(operation, ops.CreateIndexOp)
        if operation.kw.get("postgresql_concurrently"):
            return
        table = qualified(record.table, record.schema)
        unique = ", unique=True" if operation.unique else ""
        yield Violation(
            message=f'creating index "{operation.index_name}" on existing table "{table}" '
            "without CONCURRENTLY blocks all writes to the table during the build",
            help=(
                "with op.get_context().autocommit_block():\n"
                f"    op.create_index({py(operation.index_name)}, {py(record.table)}, "
                f"{index_columns_code(operation)}{unique}, postgresql_concurrently=True"
                f"{schema_kw(record)})"
            ),
        )

    def _indexed_column(self, record: OpRecord, operation: ops.AddColumnOp) -> Iterator[Violation]:
        """``sa.Column(..., index=True)`` in add_column: Alembic emits a plain CREATE INDEX."""
        column = operation.column
        if not column.index or column.unique:
            return  # unique=True is AS110's (it becomes a UNIQUE constraint)
        table = qualified(record.table, record.schema)
        name = f"ix_{record.table}_{column.name}"
        yield Violation(
            message=f'index=True on new column "{column.name}" makes Alembic create index '
            f'"{name}" on existing table "{table}" without CONCURRENTLY, blocking writes',
            help=(
                f"op.add_column({py(record.table)}, sa.Column({py(column.name)}, "
                f"{type_code(column.type)}){schema_kw(record)})  # without index=True\n"
                "with op.get_context().autocommit_block():\n"
                f"    op.create_index({py(name)}, {py(record.table)}, {py([column.name])}, "
                f"postgresql_concurrently=True{schema_kw(record)})"
            ),
        )
