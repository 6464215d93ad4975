"""AS102 add-column-volatile-default."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import (
    column_code,
    default_sql,
    py,
    qualified,
    schema_kw,
    volatile_functions,
)

_NEXTVAL = re.compile(r"nextval\(\s*'(?P<sequence>[\w.\"]+)'", re.IGNORECASE)


def _sequence_of(default: str) -> str | None:
    """The sequence a ``nextval('seq')`` default draws from (SERIAL columns create their own)."""
    match = _NEXTVAL.search(default)
    return match.group("sequence") if match else None


def _renders_as_serial(column: sa.Column[Any]) -> bool:
    """Alembic renders an autoincrementing integer primary key column as SERIAL (nextval)."""
    return (
        column.primary_key
        and isinstance(column.type, sa.Integer)
        and column.autoincrement in (True, "auto")
        and column.server_default is None
        and column.identity is None
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
        if default is None and _renders_as_serial(column):
            default = f"nextval('{record.table}_{column.name}_seq'::regclass)"
        if default is None:
            return
        if column.identity is not None or column.computed is not None:
            return  # AS103 covers identity and generated columns
        volatile = volatile_functions(default)
        if volatile:
            why = f"a volatile default ({', '.join(f'{v}()' for v in volatile)})"
        elif context.target_version < 11:
            why = "a default, which before PostgreSQL 11 is written into every row"
        else:
            return
        table = qualified(record.table, record.schema)
        sk = schema_kw(record)
        sequence = _sequence_of(default)
        create_sequence = (
            f'op.execute("CREATE SEQUENCE IF NOT EXISTS {sequence} OWNED BY '
            f'{table}.{column.name}")\n'
            if sequence
            else ""
        )
        yield Violation(
            message=f'column "{column.name}" on existing table "{table}" has {why}: '
            "PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock",
            help=(
                f"op.add_column({py(record.table)}, {column_code(column, nullable=True)}{sk})\n"
                f"{create_sequence}"
                f"op.alter_column({py(record.table)}, {py(column.name)}, "
                f"server_default=sa.text({py(default)}){sk})\n"
                "# then backfill existing rows in batches (keyset on the primary key) in a "
                "separate revision"
            ),
        )
