"""AS604 downgrade-does-not-mirror-upgrade.

Also home of the inverse computation shared with AS603 (empty-downgrade): what a downgrade must
do to undo each upgrade operation, as comparable keys and as Alembic code for the help.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from alembic.autogenerate import render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql

from alembic_safety.analysis.ops import AddConstraintUsingIndexOp, AddExclusionConstraintOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry
from alembic_safety.rules.common import py

#: ``(kind, names...)``: what an operation does, comparable between upgrade and downgrade,
#: e.g. ``("add_column", "orders", "status")`` or ``("drop_index", "ix_orders_created_at")``.
Key = tuple[str, ...]

_FLIP = {
    "create_table": "drop_table",
    "drop_table": "create_table",
    "add_column": "drop_column",
    "drop_column": "add_column",
    "create_index": "drop_index",
    "drop_index": "create_index",
    "add_constraint": "drop_constraint",
    "drop_constraint": "add_constraint",
}

#: Aspects of ``alter_column`` whose change a downgrade should revert (comments are cosmetic).
_ASPECTS = (
    ("type", "modify_type", None),
    ("nullable", "modify_nullable", None),
    ("server_default", "modify_server_default", False),
)
_EXISTING = {
    "type": ("existing_type", None),
    "nullable": ("existing_nullable", None),
    "server_default": ("existing_server_default", False),
}


def _name(value: Any) -> str | None:
    return str(value) if value is not None else None


def keys(operation: ops.MigrateOperation) -> set[Key]:
    """What ``operation`` does, as keys (several for an ``alter_column`` changing several
    aspects; none for operations this comparison does not cover)."""
    table = _name(getattr(operation, "table_name", None))
    if isinstance(operation, ops.CreateTableOp) and table:
        return {("create_table", table)}
    if isinstance(operation, ops.DropTableOp) and table:
        return {("drop_table", table)}
    if isinstance(operation, ops.AddColumnOp) and table:
        return {("add_column", table, str(operation.column.name))}
    if isinstance(operation, ops.DropColumnOp) and table:
        return {("drop_column", table, str(operation.column_name))}
    if isinstance(operation, (ops.CreateIndexOp, ops.DropIndexOp)):
        name = _name(operation.index_name)
        kind = "create_index" if isinstance(operation, ops.CreateIndexOp) else "drop_index"
        return {(kind, name)} if name else set()
    if isinstance(
        operation, (ops.AddConstraintOp, AddConstraintUsingIndexOp, AddExclusionConstraintOp)
    ):
        name = _name(getattr(operation, "constraint_name", None))
        return {("add_constraint", name)} if name else set()
    if isinstance(operation, ops.DropConstraintOp):
        name = _name(operation.constraint_name)
        return {("drop_constraint", name)} if name else set()
    if isinstance(operation, ops.RenameTableOp) and table:
        return {("rename_table", table, str(operation.new_table_name))}
    if isinstance(operation, ops.AlterColumnOp) and table:
        # Alembic applies type, nullability and default before the rename: to the old name.
        column = str(operation.column_name)
        found: set[Key] = set()
        if operation.modify_name:
            found.add(("rename_column", table, column, str(operation.modify_name)))
        for aspect, attribute, unset in _ASPECTS:
            if getattr(operation, attribute) is not unset:
                found.add(("alter_column", table, column, aspect))
        return found
    return set()


@dataclass(frozen=True)
class Inverse:
    """What undoes one upgrade operation: any of ``keys`` found in the downgrade will do."""

    record: OpRecord
    keys: frozenset[Key]
    #: Tables and (table, column) pairs whose removal by the downgrade also undoes it.
    tables: frozenset[str] = frozenset()
    columns: frozenset[tuple[str, str]] = frozenset()

    @property
    def code(self) -> str:
        """Alembic code of the inverse: Alembic's own ``reverse()``, rendered as autogenerate
        writes it, where that is faithful; otherwise written here (comment lines where the
        upgrade does not say what was there before). Computed on demand: only findings need it.
        """
        inverse = reversed_operation(self.record.operation)
        if inverse is not None:
            try:
                return render(inverse)
            except Exception:  # e.g. a stand-in type Alembic's renderer cannot write
                pass
        return _manual_code(self.record.operation, self.record)


@contextmanager
def _quiet(logger_name: str = "alembic.runtime") -> Iterator[None]:
    """Silence Alembic's INFO lines ("Context impl ...", "setting up autogenerate plugin ...")
    while rendering: they would land in the linter's output when alembic.ini configures logging."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@lru_cache(maxsize=1)
def _render_context() -> MigrationContext:
    with _quiet():
        return MigrationContext.configure(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]


def render(operation: ops.MigrateOperation) -> str:
    """Alembic's own rendering of an operation (as autogenerate writes it), dedented."""
    with _quiet():
        text = render_python_code(
            ops.DowngradeOps(ops=[operation]), migration_context=_render_context()
        )
    lines = [line for line in text.splitlines() if not line.strip().startswith("# ###")]
    return textwrap.dedent("\n".join(lines)).strip()


def reversed_operation(operation: ops.MigrateOperation) -> ops.MigrateOperation | None:
    """Alembic's ``reverse()`` where it is faithful without autogenerate's bookkeeping.

    Drops made in a revision file carry no copy of what they dropped, so their ``reverse()``
    raises or invents columns; ``alter_column`` reverses only what ``existing_*`` tells.
    """
    if isinstance(operation, ops.AlterColumnOp):
        if operation.modify_name:
            return None
        for aspect, attribute, unset in _ASPECTS:
            existing, existing_unset = _EXISTING[aspect]
            changed = getattr(operation, attribute) is not unset
            if changed and getattr(operation, existing) is existing_unset:
                return None
    elif not isinstance(
        operation, (ops.CreateTableOp, ops.AddColumnOp, ops.CreateIndexOp, ops.AddConstraintOp)
    ):
        return None
    try:
        return operation.reverse()
    except Exception:  # alembic raises NotImplementedError, ValueError, sqlalchemy errors
        return None


def _manual_code(operation: ops.MigrateOperation, record: OpRecord) -> str:
    """The inverse for operations Alembic cannot reverse from a revision file."""
    table = record.table or "?"
    if isinstance(operation, ops.RenameTableOp):
        return f"op.rename_table({py(operation.new_table_name)}, {py(operation.table_name)})"
    if isinstance(operation, ops.AlterColumnOp) and operation.modify_name:
        return (
            f"op.alter_column({py(table)}, {py(operation.modify_name)}, "
            f"new_column_name={py(operation.column_name)})"
        )
    if isinstance(operation, ops.AlterColumnOp):
        return (
            f"# op.alter_column({py(table)}, {py(operation.column_name)}, ...) back to what it "
            "was (pass existing_type= / existing_nullable= / existing_server_default= in "
            "upgrade() to get it written here)"
        )
    if isinstance(operation, ops.DropTableOp):
        return f"# op.create_table({py(table)}, ...) with the columns upgrade() dropped"
    if isinstance(operation, ops.DropColumnOp):
        return (
            f"# op.add_column({py(table)}, sa.Column({py(operation.column_name)}, <type>, "
            "nullable=True)) as it was before upgrade()"
        )
    if isinstance(operation, ops.DropIndexOp):
        return f"# op.create_index({py(operation.index_name)}, {py(table)}, [<columns>])"
    if isinstance(operation, ops.DropConstraintOp):
        return (
            f"# op.create_..._constraint({py(operation.constraint_name)}, {py(table)}, ...) "
            "as it was before upgrade()"
        )
    return f"# undo op.{record.operation_name}()"


def expected_keys(operation: ops.MigrateOperation) -> set[Key]:
    """The keys of the operation that undoes ``operation``.

    The same as ``keys(reversed_operation(operation))`` wherever Alembic can reverse it (the
    tests check this), but without building the reversed op: ``reverse()`` materialises tables
    and constraints, which costs more than the whole comparison on a long history.
    """
    found: set[Key] = set()
    for key in keys(operation):
        kind = key[0]
        if kind in _FLIP:
            found.add((_FLIP[kind], *key[1:]))
        elif kind == "rename_table":
            found.add(("rename_table", key[2], key[1]))
        elif kind == "rename_column":
            found.add(("rename_column", key[1], key[3], key[2]))
        elif kind == "alter_column" and isinstance(operation, ops.AlterColumnOp):
            # the downgrade changes the column back under the name the upgrade gave it
            found.add((kind, key[1], str(operation.modify_name or key[2]), key[3]))
        else:
            found.add(key)
    return found


def _columns_of(operation: ops.MigrateOperation) -> list[str]:
    names: list[str] = []
    for attribute in ("columns", "local_cols"):
        for column in getattr(operation, attribute, None) or ():
            if isinstance(column, str):
                names.append(column)
    if isinstance(operation, ops.AlterColumnOp):
        names.append(str(operation.modify_name or operation.column_name))
    if isinstance(operation, ops.AddColumnOp):
        names.append(str(operation.column.name))
    return names


def inverses(records: Iterable[OpRecord]) -> Iterator[Inverse]:
    """What undoes each upgrade operation that has an obvious inverse, in upgrade order."""
    records = list(records)
    # ADD CONSTRAINT ... USING INDEX ix: the constraint owns ix, dropping it drops the index.
    adopted = {
        str(r.operation.index_name): str(r.operation.constraint_name or r.operation.index_name)
        for r in records
        if isinstance(r.operation, AddConstraintUsingIndexOp)
    }
    for record in records:
        operation = record.operation
        expected = expected_keys(operation)
        if not expected:
            continue
        if isinstance(operation, ops.CreateIndexOp) and str(operation.index_name) in adopted:
            expected.add(("drop_constraint", adopted[str(operation.index_name)]))
        table = record.table
        tables = {table} if table else set()
        parent = (
            operation.info.get("partition_of") if isinstance(operation, ops.CreateTableOp) else None
        )
        if parent:
            tables.add(str(parent))  # a partition goes with its partitioned table
        yield Inverse(
            record=record,
            keys=frozenset(expected),
            tables=frozenset(tables),
            columns=frozenset((table, c) for c in _columns_of(operation) if table),
        )


def _mentions(texts: Sequence[str], key: Key) -> bool:
    """Raw SQL in the downgrade that names the object (its statements may not be translated)."""
    name = key[2] if key[0] == "alter_column" else key[-1]
    pattern = re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
    return any(pattern.search(text) for text in texts)


def missing_inverses(upgrade: Sequence[OpRecord], downgrade: Sequence[OpRecord]) -> list[Inverse]:
    """Upgrade operations whose inverse the downgrade does not contain (each reported once)."""
    done: set[Key] = set()
    for record in downgrade:
        done |= keys(record.operation)
    dropped_tables = {k[1] for k in done if k[0] == "drop_table"}
    dropped_columns = {(k[1], k[2]) for k in done if k[0] == "drop_column"}
    sql = [r.sql.text for r in downgrade if r.sql is not None]
    made = [(inverse, keys(inverse.record.operation)) for inverse in inverses(upgrade)]
    in_upgrade = Counter(key for _inverse, own in made for key in own)
    missing: list[Inverse] = []
    seen: set[frozenset[Key]] = set()
    for inverse, own in made:
        if inverse.keys & done or inverse.keys in seen:
            continue
        # undone within the upgrade itself (a temporary table, an index rebuilt)
        if any(in_upgrade[key] > (key in own) for key in inverse.keys):
            continue
        if inverse.tables & dropped_tables or inverse.columns & dropped_columns:
            continue
        if any(_mentions(sql, key) for key in inverse.keys):
            continue
        seen.add(inverse.keys)
        missing.append(inverse)
    return missing


def describe(record: OpRecord) -> str:
    """``op.add_column() on "orders"`` for messages."""
    where = f' on "{record.table}"' if record.table else ""
    return f"{record.operation_name}(){where}"


@registry.register
class DowngradeDoesNotMirrorUpgrade(Rule):
    """`downgrade()` does not undo every operation of `upgrade()`.

    ## What it does
    Compares the operations both functions record. For each upgrade operation with an obvious
    inverse — create/drop table, add/drop column, create/drop index, add/drop a named
    constraint, rename table, rename column, change a column's type, nullability or server
    default back — the downgrade must contain that inverse (dropping the whole table or column
    also undoes the indexes, constraints and changes made on it; raw SQL in the downgrade that
    names the object counts). Each missing inverse is reported once, on the upgrade operation.
    The expected inverse is Alembic's own `reverse()` where a revision file gives it enough to
    work with. An empty downgrade is AS603, not reported here.

    ## Why is this bad?
    A downgrade is the rollback plan, and it is the code nobody runs until an incident. One
    that forgets an index leaves it behind, so re-running the upgrade fails ("relation already
    exists"); one that forgets to put a dropped column back leaves the previous release without
    its column. It does not affect the deploy itself, hence LOW; the comparison is static, so an
    inverse hidden in a helper that runs SQL the linter cannot translate may be reported: suppress
    it with a reason.

    ## Example
    ```
    def upgrade():
        op.create_index("ix_orders_status", "orders", ["status"])
        op.alter_column("orders", "total", new_column_name="total_amount")

    def downgrade():
        op.drop_index("ix_orders_status", table_name="orders")
        # the rename is not undone: after a rollback the previous release finds no "total"
    ```

    ## Use instead
    ```
    def downgrade():
        op.alter_column("orders", "total_amount", new_column_name="total")
        op.drop_index("ix_orders_status", table_name="orders")
    ```

    ## Fix safety
    No automatic fix: the help shows the inverse Alembic would write (or a placeholder where
    the upgrade does not say what was there before).
    """

    code = "AS604"
    name = "downgrade-does-not-mirror-upgrade"
    risk = Risk.LOW

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        downgrade = revision.downgrade
        if downgrade is None or downgrade.error is not None or not downgrade.records:
            return
        for inverse in missing_inverses(revision.upgrade.records, downgrade.records):
            record = inverse.record
            first = inverse.code.splitlines()[0].lstrip("# ")
            yield Violation(
                message=f"downgrade() does not undo {describe(record)}: expected "
                f"{first if len(first) <= 80 else first[:77] + '...'}",
                help=f"# in downgrade():\n{inverse.code}",
                record=record,
            )
