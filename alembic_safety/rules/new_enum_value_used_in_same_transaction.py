"""AS404 new-enum-value-used-in-same-transaction."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alembic.operations import ops
from pglast import parse_sql
from pglast.parser import ParseError

from alembic_safety.analysis.ops import AddEnumValueOp, InsertRowsOp, UpdateRowsOp
from alembic_safety.analysis.recorder import OpRecord, Recording
from alembic_safety.analysis.sql import string_literals
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry
from alembic_safety.rules.common import default_sql
from alembic_safety.rules.enum_add_value_in_transaction import autocommit_help
from alembic_safety.rules.validate_in_same_transaction import same_transaction


def _default_literals(default: Any) -> tuple[str, ...]:
    """String constants in a server default (``'refunded'::order_status`` → ``refunded``)."""
    sql = default_sql(default)
    if sql is None:
        return ()
    try:
        return string_literals(parse_sql(f"SELECT {sql}"))
    except ParseError:
        return ()


def _row_values(rows: Iterable[Any]) -> Iterator[str]:
    for row in rows:
        values = row.values() if isinstance(row, dict) else ()
        for value in values:
            if isinstance(value, str):
                yield value
            elif isinstance(value, enum.Enum):  # SQLAlchemy stores a Python enum by name
                yield value.name
                if isinstance(value.value, str):
                    yield value.value


#: The string values each operation class writes or compares, by class (Alembic's dispatch).
_LITERALS: dict[type[Any], Callable[[Any], Iterable[str]]] = {
    InsertRowsOp: lambda op: op.literals,
    UpdateRowsOp: lambda op: op.literals,
    ops.BulkInsertOp: lambda op: _row_values(op.rows),
    ops.AddColumnOp: lambda op: _default_literals(op.column.server_default),
    ops.AlterColumnOp: lambda op: _default_literals(op.modify_server_default),
    ops.CreateTableOp: lambda op: (
        literal
        for column in op.columns
        for literal in _default_literals(getattr(column, "server_default", None))
    ),
}


@registry.register
class NewEnumValueUsedInSameTransaction(Rule):
    """An enum value used in the transaction that added it (fails: "unsafe use of new value").

    ## What it does
    Flags an INSERT or UPDATE (SQL, or `op.bulk_insert` rows) or a server default that uses a
    value added by `ALTER TYPE ... ADD VALUE` earlier in the same transaction — same revision,
    no `autocommit_block()` or `COMMIT` in between.

    ## Why is this bad?
    PostgreSQL refuses to use an enum value before the transaction that added it has committed
    (`unsafe use of new value "refunded" of enum type order_status`), on every version and even
    for a type created in the same transaction: the migration fails on deploy.

    ## Example
    ```python
    op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
    op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
    op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
    ```

    ## Fix safety
    Safe: the autocommit block commits the new value before it is used; `IF NOT EXISTS` keeps
    the statement re-runnable.
    """

    code = "AS404"
    name = "new-enum-value-used-in-same-transaction"
    risk = Risk.MEDIUM
    operations = tuple(_LITERALS)
    #: Fails on an empty table created in the same revision just as well.
    applies_to_new_tables = True

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        first_add = _first_enum_add(context.recording)
        if first_add is None or first_add > record.index:
            return  # the common case, decided without walking back through the revision
        added: dict[str, AddEnumValueOp] = {}
        for earlier in same_transaction(record, context):
            if isinstance(earlier.operation, AddEnumValueOp):
                added.setdefault(earlier.operation.value, earlier.operation)
        if not added:
            return
        literals = _literals(record.operation)
        used = next((value for value in literals if value in added), None)
        if used is None:
            return
        enum_op = added[used]
        where = f' on "{record.table}"' if record.table else ""
        statement = record.from_sql.split(None, 1)[0].upper() if record.from_sql else None
        yield Violation(
            message=f"{statement or record.operation_name}{where} uses '{used}', added to enum "
            f"{enum_op.type_name} earlier in the same transaction: PostgreSQL rejects it "
            '("unsafe use of new value") until the ALTER TYPE has committed',
            help=autocommit_help(enum_op)
            + f"\n# the statements using '{used}' follow the block, after the commit",
        )


_first_add_cache: dict[int, tuple[Recording, int | None]] = {}


def _first_enum_add(recording: Recording) -> int | None:
    """Index of the first ``ADD VALUE`` of a recording (remembered for the last one seen)."""
    cached = _first_add_cache.get(id(recording))
    if cached is not None and cached[0] is recording:
        return cached[1]
    first = next(
        (r.index for r in recording.records if isinstance(r.operation, AddEnumValueOp)), None
    )
    _first_add_cache.clear()
    _first_add_cache[id(recording)] = (recording, first)
    return first


def _literals(operation: Any) -> list[str]:
    for klass in type(operation).__mro__:
        extract = _LITERALS.get(klass)
        if extract is not None:
            return list(extract(operation))
    return []
