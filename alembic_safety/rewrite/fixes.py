"""The safe forms of what autogenerate writes, applied with Alembic's ``Rewriter``.

Each rewrite replaces one dangerous operation on a table that existed before the revision (the
rules' "Use instead", as operations): indexes are created and dropped ``CONCURRENTLY`` in an
autocommit block, foreign keys and CHECK constraints are added ``NOT VALID``, and a NOT NULL
column without a server default is added nullable. What must wait until the application writes
the new data (``VALIDATE CONSTRAINT``, ``SET NOT NULL``) goes into a follow-up script, built by
:func:`rewrite_script`. Tables created or dropped by the same revision are left alone: they are
new (or going away), so nothing waits on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.autogenerate.rewriter import Rewriter
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer
from sqlalchemy.engine.interfaces import Dialect

from alembic_safety.rewrite.custom_ops import AutocommitBlockOp, NoteOp, ReversibleExecuteSQLOp
from alembic_safety.risk import Direction

__all__ = ["Deferred", "NotNullColumn", "rewrite_ops", "safe_follow_up"]

#: PostgreSQL truncates identifiers to 63 bytes; a generated name must survive that as is.
_MAX_IDENTIFIER = 63

TableKey = tuple[str | None, str]


@dataclass(frozen=True)
class NotNullColumn:
    """A NOT NULL column added nullable; the follow-up script enforces NOT NULL."""

    schema: str | None
    table: str
    column: Column[Any]

    @property
    def check_name(self) -> str:
        return f"ck_{self.table}_{self.column.name}_not_null"[:_MAX_IDENTIFIER]


@dataclass
class Deferred:
    """What the rewrites of one script left for its follow-up script."""

    #: (schema, table, constraint) added NOT VALID, to be validated later.
    validations: list[tuple[str | None, str, str]] = field(default_factory=list)
    not_null: list[NotNullColumn] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.validations or self.not_null)


@dataclass
class _State:
    untouchable: frozenset[TableKey]
    deferred: Deferred = field(default_factory=Deferred)
    direction: Direction = "upgrade"

    def existing(self, schema: str | None, table: str | None) -> bool:
        return table is not None and (schema, table) not in self.untouchable


def _tables_created_or_dropped(script: ops.MigrationScript) -> frozenset[TableKey]:
    """Tables this revision creates or drops, in either direction: nothing waits on them."""
    found: set[TableKey] = set()
    pending: list[ops.MigrateOperation] = [*script.upgrade_ops_list, *script.downgrade_ops_list]
    while pending:
        operation = pending.pop()
        if isinstance(operation, ops.OpContainer):
            pending.extend(operation.ops)
        elif isinstance(operation, (ops.CreateTableOp, ops.DropTableOp)):
            found.add((operation.schema, str(operation.table_name)))
    return frozenset(found)


def _writer(state: _State) -> Rewriter:
    """A Rewriter bound to one script's state (a fresh one per script keeps runs independent)."""
    writer = Rewriter()

    @writer.rewrites(ops.UpgradeOps)
    def _upgrade(context: MigrationContext, revision: Any, op: ops.UpgradeOps) -> ops.UpgradeOps:
        # The Rewriter walks the upgrade ops, then the downgrade ops: remember which side we
        # are on, since constraints and columns are only made safe on the way up.
        state.direction = "upgrade"
        return op

    @writer.rewrites(ops.DowngradeOps)
    def _downgrade(
        context: MigrationContext, revision: Any, op: ops.DowngradeOps
    ) -> ops.DowngradeOps:
        state.direction = "downgrade"
        return op

    @writer.rewrites(ops.CreateIndexOp)
    def _create_index(
        context: MigrationContext, revision: Any, op: ops.CreateIndexOp
    ) -> ops.MigrateOperation:
        if op.kw.get("postgresql_concurrently") or not state.existing(op.schema, op.table_name):
            return op
        concurrent = ops.CreateIndexOp(
            op.index_name,
            op.table_name,
            op.columns,
            schema=op.schema,
            unique=op.unique,
            if_not_exists=op.if_not_exists,
            **{**op.kw, "postgresql_concurrently": True},
        )
        return AutocommitBlockOp([concurrent])

    @writer.rewrites(ops.DropIndexOp)
    def _drop_index(
        context: MigrationContext, revision: Any, op: ops.DropIndexOp
    ) -> ops.MigrateOperation:
        if op.kw.get("postgresql_concurrently") or (
            op.table_name is not None and not state.existing(op.schema, op.table_name)
        ):
            return op
        concurrent = ops.DropIndexOp(
            op.index_name,
            table_name=op.table_name,
            schema=op.schema,
            if_exists=op.if_exists,
            _reverse=op._reverse,
            **{**op.kw, "postgresql_concurrently": True},
        )
        return AutocommitBlockOp([concurrent])

    @writer.rewrites(ops.CreateForeignKeyOp)
    def _create_foreign_key(
        context: MigrationContext, revision: Any, op: ops.CreateForeignKeyOp
    ) -> ops.MigrateOperation:
        schema = op.kw.get("source_schema")
        if not _needs_not_valid(state, op, schema, op.source_table):
            return op
        assert op.constraint_name is not None
        state.deferred.validations.append((schema, op.source_table, str(op.constraint_name)))
        return ops.CreateForeignKeyOp(
            op.constraint_name,
            op.source_table,
            op.referent_table,
            op.local_cols,
            op.remote_cols,
            **{**op.kw, "postgresql_not_valid": True},
        )

    @writer.rewrites(ops.CreateCheckConstraintOp)
    def _create_check(
        context: MigrationContext, revision: Any, op: ops.CreateCheckConstraintOp
    ) -> ops.MigrateOperation:
        if not _needs_not_valid(state, op, op.schema, op.table_name):
            return op
        assert op.constraint_name is not None
        state.deferred.validations.append((op.schema, op.table_name, str(op.constraint_name)))
        return ops.CreateCheckConstraintOp(
            op.constraint_name,
            op.table_name,
            op.condition,
            schema=op.schema,
            **{**op.kw, "postgresql_not_valid": True},
        )

    @writer.rewrites(ops.AddColumnOp)
    def _add_column(
        context: MigrationContext, revision: Any, op: ops.AddColumnOp
    ) -> ops.MigrateOperation:
        column = op.column
        if (
            state.direction != "upgrade"
            or column.nullable
            or column.server_default is not None
            or column.primary_key
            or column.identity is not None
            or column.computed is not None
            or not state.existing(op.schema, op.table_name)
        ):
            return op
        # The model's own Column must not change: copy it, then relax the copy.
        nullable = column._copy()
        nullable.nullable = True
        state.deferred.not_null.append(NotNullColumn(op.schema, op.table_name, column))
        return ops.AddColumnOp(op.table_name, nullable, schema=op.schema)

    return writer


def _needs_not_valid(
    state: _State,
    op: ops.CreateForeignKeyOp | ops.CreateCheckConstraintOp,
    schema: str | None,
    table: str,
) -> bool:
    """Only added constraints on existing tables, upgrade side, that a VALIDATE can name."""
    return (
        state.direction == "upgrade"
        and not op.kw.get("postgresql_not_valid")
        and op.constraint_name is not None  # VALIDATE needs the name; unnamed ones stay as is
        and state.existing(schema, table)
    )


def _hoist_blocks(container: ops.OpContainer) -> None:
    """Gather the autocommit blocks: drops first, everything else last, one block each.

    One transaction for the rest instead of a commit between every index, and the right order:
    an index dropped before its column or table goes, an index created after its column exists.
    """
    front: list[ops.MigrateOperation] = []
    back: list[ops.MigrateOperation] = []

    def strip(inner: ops.OpContainer) -> None:
        kept: list[ops.MigrateOperation] = []
        for operation in inner.ops:
            if isinstance(operation, AutocommitBlockOp):
                for op_ in operation.ops:
                    (front if isinstance(op_, ops.DropIndexOp) else back).append(op_)
            elif isinstance(operation, ops.ModifyTableOps):
                strip(operation)
                if operation.ops:
                    kept.append(operation)
            else:
                kept.append(operation)
        inner.ops = kept

    strip(container)
    head = [AutocommitBlockOp(front)] if front else []
    tail = [AutocommitBlockOp(back)] if back else []
    container.ops = [*head, *container.ops, *tail]


def rewrite_ops(context: MigrationContext, revision: Any, script: ops.MigrationScript) -> Deferred:
    """Rewrite ``script`` in place; return what its follow-up script must do."""
    state = _State(_tables_created_or_dropped(script))
    _writer(state).process_revision_directives(context, revision, [script])
    for container in [*script.upgrade_ops_list, *script.downgrade_ops_list]:
        _hoist_blocks(container)
    return state.deferred


def _table_sql(dialect: Dialect, schema: str | None, table: str) -> str:
    quote = dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


#: Rows per backfill batch in the suggested loop (each batch is its own short transaction).
BACKFILL_BATCH = 5000


def _integer_key(column: Column[Any]) -> str | None:
    """The single integer primary key of the column's table, for keyset batches; else None."""
    table = getattr(column, "table", None)
    keys = list(table.primary_key.columns) if table is not None else []
    if len(keys) == 1 and isinstance(keys[0].type, Integer):
        return str(keys[0].name)
    return None


def _backfill_note(dialect: Dialect, item: NotNullColumn) -> NoteOp:
    """The TODO where the backfill goes, with a keyset loop to uncomment when the key allows.

    Only the user knows the value for existing rows, so nothing is run: a wrong guess would be
    silently written to production data. The loop is the shape the linter accepts (AS502).
    """
    quote = dialect.identifier_preparer.quote
    table = _table_sql(dialect, item.schema, item.table)
    column = quote(str(item.column.name))
    lines = [
        f"TODO(alembic-safety): backfill {table}.{column}; autogenerate cannot know the value.",
        "The previous revision added it nullable: first deploy code that always writes it, then",
        "fill the old rows in keyset batches, each committed on its own. Until every row has a",
        "value, the VALIDATE below fails.",
    ]
    key = _integer_key(item.column)
    if key is None:
        lines += [
            f"    UPDATE {table} SET {column} = <value>",
            f"    WHERE <key> > :last AND <key> <= :upto AND {column} IS NULL",
        ]
        return NoteOp("\n".join(lines))
    pk = quote(key)
    select = (
        f"SELECT max({pk}) FROM (SELECT {pk} FROM {table} WHERE {pk} > :last "
        f"ORDER BY {pk} LIMIT {BACKFILL_BATCH}) AS batch"
    )
    update = (
        f"UPDATE {table} SET {column} = <value> "
        f"WHERE {column} IS NULL AND {pk} > :last AND {pk} <= :upto"
    )
    lines += [
        "Uncomment and set <value>:",
        "with op.get_context().autocommit_block():",
        "    bind = op.get_bind()",
        "    last = 0",
        "    while True:",
        f"        row = bind.execute(sa.text({select!r}), {{'last': last}}).fetchone()",
        "        if row is None or row[0] is None:",
        "            break",
        f"        bind.execute(sa.text({update!r}), {{'last': last, 'upto': row[0]}})",
        "        last = row[0]",
    ]
    return NoteOp("\n".join(lines))


def safe_follow_up(
    dialect: Dialect, deferred: Deferred
) -> tuple[list[ops.MigrateOperation], list[ops.MigrateOperation], bool]:
    """Upgrade ops, downgrade ops and whether it needs a backfill, for the follow-up script.

    Everything runs in one autocommit block: each statement commits on its own, so the brief
    ACCESS EXCLUSIVE of ``ADD CONSTRAINT ... NOT VALID`` is released before ``VALIDATE`` scans
    (SHARE UPDATE EXCLUSIVE: reads and writes go on), and ``SET NOT NULL`` skips its scan
    (PostgreSQL 12+) thanks to the validated ``CHECK (col IS NOT NULL)``, dropped afterwards.
    """
    quote = dialect.identifier_preparer.quote
    checks: list[ops.MigrateOperation] = []
    validations: list[ops.MigrateOperation] = []
    enforce: list[ops.MigrateOperation] = []
    cleanup: list[ops.MigrateOperation] = []
    for schema, table, name in deferred.validations:
        validations.append(_validate(dialect, schema, table, name))
    for item in deferred.not_null:
        name, column = item.check_name, str(item.column.name)
        check = ops.CreateCheckConstraintOp(
            name,
            item.table,
            f"{quote(column)} IS NOT NULL",
            schema=item.schema,
            postgresql_not_valid=True,
        )
        checks.append(check)
        validations.append(_validate(dialect, item.schema, item.table, name))
        enforce.append(
            ops.AlterColumnOp(
                item.table,
                column,
                schema=item.schema,
                existing_type=item.column.type,
                existing_nullable=True,
                modify_nullable=False,
            )
        )
        # Made from the constraint, so it knows what it drops: ``alembic check`` diffs need that.
        cleanup.append(ops.DropConstraintOp.from_constraint(check.to_constraint()))
    notes: list[ops.MigrateOperation] = [_backfill_note(dialect, i) for i in deferred.not_null]
    upgrade = [*notes, AutocommitBlockOp([*checks, *validations, *enforce, *cleanup])]
    downgrade: list[ops.MigrateOperation] = [
        ops.AlterColumnOp(
            item.table,
            str(item.column.name),
            schema=item.schema,
            existing_type=item.column.type,
            existing_nullable=False,
            modify_nullable=True,
        )
        for item in reversed(deferred.not_null)
    ]
    return upgrade, downgrade, bool(notes)


def _validate(
    dialect: Dialect, schema: str | None, table: str, name: str
) -> ReversibleExecuteSQLOp:
    """``VALIDATE CONSTRAINT``: it proves existing rows, so a downgrade has nothing to undo."""
    quote = dialect.identifier_preparer.quote
    sql = f"ALTER TABLE {_table_sql(dialect, schema, table)} VALIDATE CONSTRAINT {quote(name)}"
    return ReversibleExecuteSQLOp(sql, reverse_sqltext=None)
