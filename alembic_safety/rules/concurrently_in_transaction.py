"""AS401 concurrently-in-transaction."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import MaintenanceOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry


@registry.register
class ConcurrentlyInTransaction(Rule):
    """`CONCURRENTLY` outside `autocommit_block()`: fails inside Alembic's transaction.

    ## What it does
    Flags `create_index`/`drop_index` with `postgresql_concurrently=True`, and `CREATE INDEX
    CONCURRENTLY` / `DROP INDEX CONCURRENTLY` / `REINDEX ... CONCURRENTLY` in SQL, when they do
    not run inside `op.get_context().autocommit_block()` (or after an explicit `COMMIT`).

    ## Why is this bad?
    Alembic runs each migration in a transaction on PostgreSQL and these statements refuse to
    run in one (`ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block`,
    SQLSTATE 25001). The deploy fails — often only in production, where `transaction_per_migration`
    or offline mode differ from development.

    ## Example
    ```python
    op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    ```

    ## Fix safety
    Safe: statements before the block are committed first, which `autocommit_block()` does.
    """

    code = "AS401"
    name = "concurrently-in-transaction"
    risk = Risk.MEDIUM
    operations = (ops.CreateIndexOp, ops.DropIndexOp, MaintenanceOp)
    lock = "SHARE UPDATE EXCLUSIVE"
    rewrites = False
    applies_to_new_tables = True
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int);",
        statement="CREATE INDEX CONCURRENTLY t_a_idx ON t (a)",
        in_transaction=False,
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        if isinstance(operation, MaintenanceOp):
            concurrently = operation.concurrently
            what = f"{operation.command} CONCURRENTLY"
        else:
            concurrently = bool(operation.kw.get("postgresql_concurrently"))  # type: ignore[attr-defined]
            verb = "CREATE INDEX" if isinstance(operation, ops.CreateIndexOp) else "DROP INDEX"
            what = f"{verb} CONCURRENTLY"
        if not concurrently:
            return
        if record.in_autocommit and record.statement_count > 1:
            yield Violation(
                message=f"{what} in a SQL string with {record.statement_count} statements: "
                "PostgreSQL runs them as one implicit transaction, so it fails even inside "
                "autocommit_block()",
                help=(
                    "with op.get_context().autocommit_block():\n"
                    f'    op.execute("{record.from_sql}")  # alone in its own op.execute()'
                ),
            )
            return
        if record.in_autocommit:
            return
        yield Violation(
            message=f"{what} cannot run inside a transaction block; this migration fails unless "
            "it runs in op.get_context().autocommit_block()",
            help=(
                "with op.get_context().autocommit_block():\n"
                "    # move this statement here (statements before it are committed first)"
            ),
        )
