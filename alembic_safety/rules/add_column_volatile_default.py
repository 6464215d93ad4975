"""AS102 add-column-volatile-default."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import (
    column_code,
    default_sql,
    py,
    qualified,
    table_args,
    volatile_functions,
)


@registry.register
class AddColumnVolatileDefault(Rule):
    """Adding a column whose default is volatile (`random()`, `gen_random_uuid()`, `nextval`...).

    ## What it does
    Flags `op.add_column` / `ADD COLUMN` on an existing table when the column's server default
    calls a volatile function — `random()`, `gen_random_uuid()`, `uuid_generate_v4()`,
    `clock_timestamp()`, `nextval(...)` (which `serial`/`bigserial` columns use) or a function
    the linter does not know to be STABLE/IMMUTABLE.

    ## Why is this bad?
    Since PostgreSQL 11 a constant or STABLE default (`now()`) is stored once in the catalog and
    the ADD COLUMN is instant. A volatile default must be computed per row, so PostgreSQL
    rewrites the whole table under an ACCESS EXCLUSIVE lock: no reads or writes for the duration.

    ## Example
    ```python
    op.add_column("users", sa.Column("token", postgresql.UUID(),
                  server_default=sa.text("gen_random_uuid()")))
    ```

    ## Use instead
    ```python
    op.add_column("users", sa.Column("token", postgresql.UUID(), nullable=True))
    op.alter_column("users", "token", server_default=sa.text("gen_random_uuid()"))  # new rows
    # then backfill existing rows in batches in a separate revision
    ```

    ## Fix safety
    Safe: the rewriter adds the column without default, sets the default for new rows, and
    emits a keyset-batched backfill.
    """

    code = "AS102"
    name = "add-column-volatile-default"
    risk = Risk.HIGH
    operations = (ops.AddColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    min_version = 11
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;",
        statement="ALTER TABLE t ADD COLUMN c float8 DEFAULT random()",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AddColumnOp)
        column = operation.column
        default = default_sql(column.server_default)
        if default is None:
            return
        volatile = volatile_functions(default)
        if not volatile:
            return
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'column "{column.name}" on existing table "{table}" has a volatile default '
            f"({', '.join(f'{v}()' for v in volatile)}): PostgreSQL rewrites the whole table "
            "under an ACCESS EXCLUSIVE lock",
            help=(
                f"op.add_column({table_args(record)}, {column_code(column, nullable=True)})\n"
                f"op.alter_column({table_args(record)}, {py(column.name)}, "
                f"server_default=sa.text({py(default)}))\n"
                "# then backfill existing rows in batches (keyset on the primary key) in a "
                "separate revision"
            ),
        )
