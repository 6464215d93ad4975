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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alembic.autogenerate.rewriter import Rewriter
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DefaultClause, Integer, PrimaryKeyConstraint, text
from sqlalchemy.engine.interfaces import Dialect

from alembic_safety.rewrite.constraints import (
    concurrent_index,
    constraint_using_index,
    not_null_check_name,
    not_null_steps,
    row_trigger,
)
from alembic_safety.rewrite.constraints import table_sql as _table_sql
from alembic_safety.rewrite.custom_ops import (
    AutocommitBlockOp,
    BackfillOp,
    NoteOp,
    fit_identifier,
    leaves,
    quoter,
)
from alembic_safety.rewrite.fill_values import scalar_default_sql, volatile_default_sql
from alembic_safety.rewrite.not_null import integer_key, safe_follow_up
from alembic_safety.rewrite.renames import Renames, rename_column, rename_table
from alembic_safety.rewrite.settings import RewriteSettings
from alembic_safety.rewrite.shadow_table import ShadowTables, take_type_change, undo_type_change
from alembic_safety.risk import Direction
from alembic_safety.rules.rewriting_type_change import rewrite_reason

__all__ = ["Deferred", "NotNullColumn", "TypeChange", "rewrite_ops", "safe_follow_up"]


TableKey = tuple[str | None, str]


@dataclass(frozen=True)
class NotNullColumn:
    """A column added nullable (and without its volatile default); the follow-up script fills
    it when ``fill_sql`` is known and, for a NOT NULL model column, enforces NOT NULL."""

    schema: str | None
    table: str
    #: The model's column (its ``nullable`` says whether NOT NULL is to be enforced).
    column: Column[Any]
    #: SQL for the value of existing rows (see :mod:`alembic_safety.rewrite.fill_values`);
    #: None: unknown, a TODO for the user.
    fill_sql: str | None = None
    #: The table's single integer primary key, for keyset batches; None: no generated loop.
    key: str | None = None

    @property
    def check_name(self) -> str:
        return not_null_check_name(self.table, str(self.column.name))


@dataclass(frozen=True)
class TypeChange:
    """A rewriting type change done through a shadow column ``<column>_new`` (see phases)."""

    schema: str | None
    table: str
    column: str
    old_type: Any
    new_type: Any
    #: The table's single integer primary key column, for keyset batches.
    key: str
    old_nullable: bool
    new_nullable: bool
    #: The column's server default (SQL), set on the new column when it is swapped in: the
    #: shadow column is added without it, and the old column's goes when it is dropped.
    server_default: str | None = None
    #: The model's indexes on the column: they go with the old column, and are built again
    #: (concurrently) on the swapped-in one.
    indexes: tuple[Any, ...] = ()

    @property
    def shadow(self) -> str:
        return fit_identifier(f"{self.column}_new")

    @property
    def old(self) -> str:
        return fit_identifier(f"{self.column}_old")

    @property
    def function(self) -> str:
        return fit_identifier(f"{self.table}_{self.column}_new_sync")


@dataclass
class Deferred:
    """What the rewrites of one script left for its follow-up scripts."""

    #: (schema, table, constraint) added NOT VALID, to be validated later.
    validations: list[tuple[str | None, str, str]] = field(default_factory=list)
    not_null: list[NotNullColumn] = field(default_factory=list)
    #: Shadow columns added by this script: backfilled, then swapped in, by later scripts.
    type_changes: list[TypeChange] = field(default_factory=list)
    #: Key values per batch of the backfills the follow-up script writes.
    backfill_batch_size: int = 5000
    #: Renames whose expand step this script holds (see :mod:`alembic_safety.rewrite.renames`).
    renames: Renames = field(default_factory=Renames)
    #: Tables rebuilt whole (``rewrite_strategy = "shadow-table"``), see ``shadow_table``.
    shadow_tables: ShadowTables = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.validations or self.not_null)


@dataclass
class _State:
    untouchable: frozenset[TableKey]
    settings: RewriteSettings = field(default_factory=RewriteSettings)
    deferred: Deferred = field(default_factory=Deferred)
    direction: Direction = "upgrade"

    def existing(self, schema: str | None, table: str | None) -> bool:
        return table is not None and (schema, table) not in self.untouchable


def _tables_created_or_dropped(script: ops.MigrationScript) -> frozenset[TableKey]:
    """Tables this revision creates or drops, in either direction: nothing waits on them."""
    return frozenset(
        (operation.schema, str(operation.table_name))
        for operation in leaves([*script.upgrade_ops_list, *script.downgrade_ops_list])
        if isinstance(operation, (ops.CreateTableOp, ops.DropTableOp))
    )


#: A handler of ``_writer``: (context, revision, op) → the op(s) to write instead.
_Handler = Callable[[MigrationContext, Any, Any], Any]


def _writer(state: _State) -> Rewriter:
    """A Rewriter bound to one script's state (a fresh one per script keeps runs independent)."""
    writer = Rewriter()

    def rewrites(op_class: type[ops.MigrateOperation]) -> Callable[[_Handler], _Handler]:
        """``writer.rewrites`` for one operation class, settling what the handler returns.

        The Rewriter walks into the containers a handler returns and dispatches their
        operations again, which are new objects it has not marked: without the mark, our own
        output (a ``SET NOT NULL`` step, a concurrent index) would be rewritten again, forever.
        """

        def register(handler: _Handler) -> _Handler:
            def settled(context: MigrationContext, revision: Any, op: Any) -> Any:
                result = handler(context, revision, op)
                pending = list(result) if isinstance(result, list) else [result]
                while pending:
                    operation = pending.pop()
                    operation._mutations = operation._mutations.union([writer])
                    if isinstance(operation, ops.OpContainer):
                        pending.extend(operation.ops)
                return result

            writer.rewrites(op_class)(settled)
            return handler

        return register

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

    @rewrites(ops.CreateIndexOp)
    def _create_index(
        context: MigrationContext, revision: Any, op: ops.CreateIndexOp
    ) -> ops.MigrateOperation:
        if not state.settings.enabled("index"):
            return op
        # A hook's CONCURRENTLY would fail inside the migration's transaction (AS401): it gets
        # the block too, on any table.
        if not op.kw.get("postgresql_concurrently") and not state.existing(
            op.schema, op.table_name
        ):
            return op
        return AutocommitBlockOp(concurrent_index(op))

    @rewrites(ops.DropIndexOp)
    def _drop_index(
        context: MigrationContext, revision: Any, op: ops.DropIndexOp
    ) -> ops.MigrateOperation:
        if not state.settings.enabled("index"):
            return op
        if (
            not op.kw.get("postgresql_concurrently")
            and op.table_name is not None
            and not state.existing(op.schema, op.table_name)
        ):
            return op
        concurrent = ops.DropIndexOp(
            op.index_name,
            table_name=op.table_name,
            schema=op.schema,
            # a rerun after a failure later in the block finds it gone: nothing to do then
            if_exists=True,
            _reverse=op._reverse,
            **{**op.kw, "postgresql_concurrently": True},
        )
        return AutocommitBlockOp([concurrent])

    @rewrites(ops.CreateForeignKeyOp)
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

    @rewrites(ops.CreateCheckConstraintOp)
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

    @rewrites(ops.CreateUniqueConstraintOp)
    def _create_unique(
        context: MigrationContext, revision: Any, op: ops.CreateUniqueConstraintOp
    ) -> ops.MigrateOperation:
        return _using_index(context, state, op)

    @rewrites(ops.CreatePrimaryKeyOp)
    def _create_primary_key(
        context: MigrationContext, revision: Any, op: ops.CreatePrimaryKeyOp
    ) -> ops.MigrateOperation:
        return _using_index(context, state, op)

    @rewrites(ops.AddColumnOp)
    def _add_column(
        context: MigrationContext, revision: Any, op: ops.AddColumnOp
    ) -> ops.MigrateOperation | list[ops.MigrateOperation]:
        column = op.column
        volatile = volatile_default_sql(column)
        if (
            not state.settings.enabled("not_null")
            or state.direction != "upgrade"
            or (volatile is None and (column.nullable or column.server_default is not None))
            or column.primary_key
            or column.identity is not None
            or column.computed is not None
            or not state.existing(op.schema, op.table_name)
        ):
            return op
        # The model's own Column must not change: copy it, then relax the copy.
        nullable = column._copy()
        nullable.nullable = True
        added: list[ops.MigrateOperation] = [
            ops.AddColumnOp(op.table_name, nullable, schema=op.schema)
        ]
        if volatile is not None:
            # Computed per row, the default would rewrite the table: set it after the ADD (new
            # rows get it from the database), the follow-up fills the existing rows with it.
            nullable.server_default = None
            added.append(
                ops.AlterColumnOp(
                    op.table_name,
                    str(column.name),
                    schema=op.schema,
                    existing_type=column.type,
                    existing_nullable=True,
                    modify_server_default=column.server_default,
                )
            )
        fill = volatile if volatile is not None else scalar_default_sql(context.dialect, column)
        table = getattr(column, "table", None)
        if table is None:  # a Column made for the op alone: the model's table has the key
            table = _model_table(context, op.schema, op.table_name)
        key = integer_key(table)
        state.deferred.not_null.append(NotNullColumn(op.schema, op.table_name, column, fill, key))
        return added

    @rewrites(ops.AlterColumnOp)
    def _alter_column(
        context: MigrationContext, revision: Any, op: ops.AlterColumnOp
    ) -> ops.MigrateOperation | list[ops.MigrateOperation]:
        if op.modify_name is not None and _renaming(state, op.schema, op.table_name):
            model_table = _model_table(context, op.schema, op.table_name)
            renames = state.deferred.renames
            return rename_column(context.dialect, state.direction, op, model_table, renames)
        if state.direction == "downgrade":
            return _undo_shadow(context.dialect, state, op)
        if _only_sets_not_null(op) and state.settings.enabled("not_null"):
            if not state.existing(op.schema, op.table_name):
                return op
            # Existing rows are the application's: a validated CHECK proves them without
            # blocking writes, then SET NOT NULL skips its scan (PostgreSQL 12+). Each step
            # commits on its own, so no lock is held across them.
            type_ = op.existing_type
            steps = not_null_steps(context.dialect, op.schema, op.table_name, op.column_name, type_)
            return AutocommitBlockOp(steps.in_order())
        return _shadow_column(context, state, op)

    @rewrites(ops.RenameTableOp)
    def _rename_table(
        context: MigrationContext, revision: Any, op: ops.RenameTableOp
    ) -> ops.MigrateOperation | list[ops.MigrateOperation]:
        if not _renaming(state, op.schema, op.table_name):
            return op
        return rename_table(context.dialect, state.direction, op, state.deferred.renames)

    return writer


def _renaming(state: _State, schema: str | None, table: str) -> bool:
    """Renames of existing tables and their columns span phases; else they stay as is."""
    return (
        state.settings.enabled("rename") and state.settings.phases and state.existing(schema, table)
    )


def _only_sets_not_null(op: ops.AlterColumnOp) -> bool:
    """``alter_column(..., nullable=False)`` and nothing else (autogenerate's SET NOT NULL)."""
    return (
        op.modify_nullable is False
        and op.modify_type is None
        and op.modify_name is None
        and op.modify_server_default is False
        and op.modify_comment is False
    )


def _pure_type_change(op: ops.AlterColumnOp) -> bool:
    """Only the type changes: the shadow column handles nothing else (a rename, a default)."""
    return (
        op.modify_type is not None
        and op.modify_name is None
        and op.modify_nullable is None
        and op.modify_server_default is False
        and op.modify_comment is False
    )


def _model_table(context: MigrationContext, schema: str | None, table: str) -> Any:
    """The model's Table from env.py's ``target_metadata`` (a MetaData or a list of them)."""
    metadata = context.opts.get("target_metadata")
    for models in metadata if isinstance(metadata, (list, tuple)) else [metadata]:
        tables = getattr(models, "tables", {})
        for key in ([f"{schema}.{table}"] if schema else []) + [table, f"public.{table}"]:
            if key in tables:
                return tables[key]
    return None


def _shadow_column(
    context: MigrationContext, state: _State, op: ops.AlterColumnOp
) -> ops.MigrateOperation | list[ops.MigrateOperation]:
    """A rewriting type change → ``<col>_new`` of the new type kept in sync by a trigger."""
    if (
        not state.settings.enabled("type_change")
        or not state.settings.phases
        or op.modify_type is None
        or not state.existing(op.schema, op.table_name)
    ):
        return op
    reason = rewrite_reason(
        op.existing_type,
        op.modify_type,
        using=op.kw.get("postgresql_using"),
        utc_session=False,
        target_version=15,
    )
    if reason is None:
        return op  # catalog-only: nothing to gain
    table = _model_table(context, op.schema, op.table_name)
    if state.settings.strategy == "shadow-table" and not op.kw.get("postgresql_using"):
        taken = take_type_change(state.deferred.shadow_tables, op, table)
        if taken is not None:
            return taken
    keys = list(table.primary_key.columns) if table is not None else []
    why = _no_shadow_column_because(op, table, keys)
    if why is not None:
        note = NoteOp(
            f"TODO(alembic-safety): {op.table_name}.{op.column_name} changes type and that "
            f"rewrites the table ({reason}) under ACCESS EXCLUSIVE; no shadow column was "
            f'generated because {why}. Consider rewrite_strategy = "shadow-table" or a '
            "shadow column by hand."
        )
        return [note, op]
    model_column = table.c.get(op.column_name) if table is not None else None
    change = TypeChange(
        schema=op.schema,
        table=op.table_name,
        column=op.column_name,
        old_type=op.existing_type,
        new_type=op.modify_type,
        key=str(keys[0].name),
        old_nullable=op.existing_nullable is not False,
        new_nullable=model_column is None or bool(model_column.nullable),
        server_default=_default_sql(op.existing_server_default),
        indexes=tuple(
            index
            for index in (table.indexes if table is not None else ())
            if op.column_name in {str(c.name) for c in index.columns}
        ),
    )
    state.deferred.type_changes.append(change)
    return expand_type_change(context.dialect, change)


def _no_shadow_column_because(op: ops.AlterColumnOp, table: Any, keys: list[Any]) -> str | None:
    """Why a shadow column cannot carry this type change; None when it can.

    The swap renames the old column away and drops it: whatever hangs on that column and the
    models do not let us rebuild (the primary key, foreign keys, constraints) would go with it.
    Indexes are rebuilt from the models (see :func:`contract_type_change`).
    """
    if op.kw.get("postgresql_using"):
        return "it has a USING expression"
    if not _pure_type_change(op):
        return "the same alter_column also changes its nullability, default, name or comment"
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return "the model's table has no single-column integer primary key for keyset batches"
    column = op.column_name
    if column in {str(key.name) for key in keys}:
        return "it is the primary key (its index, sequence and foreign keys go with it)"
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint):
            continue
        names = {str(c.name) for c in getattr(constraint, "columns", ())}
        text = str(getattr(constraint, "sqltext", ""))
        if column in names or (text and re.search(rf"\b{re.escape(column)}\b", text)):
            kind = type(constraint).__name__
            return f"the model's {kind} {constraint.name or ''} uses it".replace("  ", " ")
    for other in table.metadata.tables.values():
        for fk in other.foreign_keys:
            if fk.target_fullname.split(".")[-2:] == [str(table.name), column]:
                return f"{other.name}.{fk.parent.name} refers to it"
    return None


def _undo_shadow(
    dialect: Dialect, state: _State, op: ops.AlterColumnOp
) -> ops.MigrateOperation | list[ops.MigrateOperation]:
    """The downgrade's reverse type change of a shadowed column → drop the shadow instead."""
    undone = undo_type_change(state.deferred.shadow_tables, op)
    if undone is not None:
        return undone
    for change in state.deferred.type_changes:
        if (change.schema, change.table, change.column) == (
            op.schema,
            op.table_name,
            op.column_name,
        ) and op.modify_type is not None:
            expand = expand_type_change(dialect, change)
            return [operation.reverse() for operation in reversed(expand)]
    return op


def type_sql(dialect: Dialect, type_: Any) -> str:
    return str(type_.compile(dialect=dialect))


def _sync_ops(dialect: Dialect, change: TypeChange) -> list[ops.MigrateOperation]:
    """The trigger function and the trigger keeping ``<col>_new`` equal to ``<col>``."""
    quote = quoter(dialect)
    cast = f"CAST(NEW.{quote(change.column)} AS {type_sql(dialect, change.new_type)})"
    body = f"NEW.{quote(change.shadow)} := {cast}; RETURN NEW;"
    return [*row_trigger(dialect, change.schema, change.table, change.function, body)]


def expand_type_change(dialect: Dialect, change: TypeChange) -> list[ops.MigrateOperation]:
    """Add the shadow column (nullable) and the trigger that fills it on every write."""
    shadow = Column(change.shadow, change.new_type, nullable=True)
    return [
        ops.AddColumnOp(change.table, shadow, schema=change.schema),
        *_sync_ops(dialect, change),
    ]


def migrate_type_change(
    dialect: Dialect, change: TypeChange, batch_size: int
) -> list[ops.MigrateOperation]:
    """The keyset-batched backfill of the shadow column and its check, outside a transaction."""
    quote = quoter(dialect)
    cast = f"CAST({quote(change.column)} AS {type_sql(dialect, change.new_type)})"
    backfill = BackfillOp(
        _table_sql(dialect, change.schema, change.table),
        quote(change.key),
        quote(change.shadow),
        cast,
        batch_size,
    )
    return [AutocommitBlockOp([backfill])]


def contract_type_change(
    dialect: Dialect, change: TypeChange, batch_size: int
) -> tuple[list[ops.MigrateOperation], list[ops.MigrateOperation]]:
    """Swap the shadow column in: (upgrade, downgrade).

    The old column is renamed away before it is dropped, so that no step drops a column the
    models still have. The downgrade brings the old column back, filled from the new one in
    batches.
    """
    quote = quoter(dialect)
    sync = _sync_ops(dialect, change)
    table, schema = change.table, change.schema

    def rename(old: str, new: str, type_: Any, nullable: bool) -> ops.AlterColumnOp:
        return ops.AlterColumnOp(
            table,
            old,
            schema=schema,
            modify_name=new,
            existing_type=type_,
            existing_nullable=nullable,
        )

    old_column = Column(change.old, change.old_type, nullable=True)
    upgrade: list[ops.MigrateOperation] = [
        NoteOp(
            f"Indexes, constraints, defaults and views on {table}.{change.column} go with the\n"
            f"old column: recreate them on {change.shadow} in an earlier revision."
        ),
        *[operation.reverse() for operation in reversed(sync)],
        rename(change.column, change.old, change.old_type, change.old_nullable),
        rename(change.shadow, change.column, change.new_type, True),
        *_set_default(change, change.column, change.new_type, change.server_default),
        ops.DropColumnOp.from_column_and_tablename(schema, table, old_column),
    ]
    if not change.new_nullable:  # proved by a CHECK first: SET NOT NULL then skips its scan
        steps = not_null_steps(dialect, schema, table, change.column, change.new_type)
        upgrade.append(AutocommitBlockOp(steps.in_order()))
    upgrade += _rebuild_indexes(change)
    # Back in keyset batches too: a downgrade runs on the same busy table.
    refill = BackfillOp(
        _table_sql(dialect, schema, table),
        quote(change.key),
        quote(change.old),
        f"CAST({quote(change.column)} AS {type_sql(dialect, change.old_type)})",
        batch_size,
    )
    downgrade: list[ops.MigrateOperation] = [
        ops.AddColumnOp(table, old_column, schema=schema),
        AutocommitBlockOp([refill]),
        rename(change.column, change.shadow, change.new_type, change.new_nullable),
        rename(change.old, change.column, change.old_type, True),
        *_set_default(change, change.shadow, change.new_type, None),
        *_set_default(change, change.column, change.old_type, change.server_default),
    ]
    if not change.old_nullable:
        steps = not_null_steps(dialect, schema, table, change.column, change.old_type)
        downgrade.append(AutocommitBlockOp(steps.in_order()))
    if not change.new_nullable:
        downgrade.append(
            ops.AlterColumnOp(
                table,
                change.shadow,
                schema=schema,
                existing_type=change.new_type,
                existing_nullable=False,
                modify_nullable=True,
            )
        )
    downgrade += sync
    downgrade += _rebuild_indexes(change)  # off the shadow column, back on the restored one
    return upgrade, downgrade


def _rebuild_indexes(change: TypeChange) -> list[ops.MigrateOperation]:
    """The model's indexes on the column, dropped and built again ``CONCURRENTLY``.

    After a swap they either went with the dropped column or stayed on the renamed one: either
    way the named index must end up on the column that now has the name.
    """
    steps: list[ops.MigrateOperation] = []
    for index in change.indexes:
        create = ops.CreateIndexOp.from_index(index)
        if create.index_name is None:
            continue  # unnamed: cannot be dropped or rebuilt by name
        drop = ops.DropIndexOp(
            create.index_name,
            table_name=change.table,
            schema=change.schema,
            if_exists=True,
            postgresql_concurrently=True,
        )
        steps += [drop, *concurrent_index(create)]
    return [AutocommitBlockOp(steps)] if steps else []


def _default_sql(default: Any) -> str | None:
    """The SQL of a reflected server default (``existing_server_default``), or None."""
    arg = getattr(default, "arg", default)
    if arg is None or arg is False:
        return None
    return str(getattr(arg, "text", arg))


def _set_default(
    change: TypeChange, column: str, type_: Any, default: str | None
) -> list[ops.MigrateOperation]:
    """``SET DEFAULT default`` (``DROP DEFAULT`` for None) on ``column``, when the type change
    carries a default at all: catalog-only, inside the swap's transaction."""
    if change.server_default is None:
        return []
    return [
        ops.AlterColumnOp(
            change.table,
            column,
            schema=change.schema,
            existing_type=type_,
            modify_server_default=DefaultClause(text(default)) if default is not None else None,
        )
    ]


def _using_index(
    context: MigrationContext,
    state: _State,
    op: ops.CreateUniqueConstraintOp | ops.CreatePrimaryKeyOp,
) -> ops.MigrateOperation:
    """UNIQUE / PRIMARY KEY on an existing table → concurrent unique index + ``USING INDEX``."""
    if (
        not state.settings.enabled("constraint")
        or state.direction != "upgrade"
        or not state.existing(op.schema, op.table_name)
    ):
        return op
    model_table = _model_table(context, op.schema, op.table_name)
    block = constraint_using_index(context, op, model_table)
    return op if block is None else block


def _needs_not_valid(
    state: _State,
    op: ops.CreateForeignKeyOp | ops.CreateCheckConstraintOp,
    schema: str | None,
    table: str,
) -> bool:
    """Only added constraints on existing tables, upgrade side, that a VALIDATE can name."""
    return (
        state.settings.enabled("constraint")
        and state.direction == "upgrade"
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


def rewrite_ops(
    context: MigrationContext,
    revision: Any,
    script: ops.MigrationScript,
    settings: RewriteSettings | None = None,
) -> Deferred:
    """Rewrite ``script`` in place; return what its follow-up scripts must do."""
    state = _State(_tables_created_or_dropped(script), settings or RewriteSettings())
    state.deferred.backfill_batch_size = state.settings.backfill_batch_size
    _writer(state).process_revision_directives(context, revision, [script])
    for container in [*script.upgrade_ops_list, *script.downgrade_ops_list]:
        _hoist_blocks(container)
    return state.deferred
