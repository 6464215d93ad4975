"""Renames the running application survives: expand → migrate → contract.

Autogenerate never emits a rename (it sees a drop and an add), but a user's own
``process_revision_directives`` hook or ``Rewriter`` often does, and
:func:`alembic_safety.rewrite.compose` runs that hook before ours. A plain rename breaks every
application server still running the previous release, so:

**Column** (``AlterColumnOp`` with ``modify_name`` and nothing else changing)

- expand: the new column is added (same type, nullable, no default yet) with a trigger that keeps
  both columns equal in both directions: on INSERT the new column wins when it was given, else it
  takes the old one's value (and with it the old column's default); on UPDATE the column that
  changed wins (``IS DISTINCT FROM``). Old code writes the old name, new code the new one.
- migrate: a keyset-batched, resumable backfill ``new := old`` on the table's integer key.
- contract (escalated: deploy after the release that reads and writes only the new name):
  NOT NULL enforced through a validated ``CHECK ... NOT VALID`` when the old column had it, the
  server default moved over, the trigger, its function and the old column dropped.

The default moves in the contract, not the expand: with a default on both columns an INSERT
could not tell which one the application wrote, and ``ADD COLUMN`` with a volatile default would
rewrite the table.

**Table** (``RenameTableOp``)

- expand: the rename and a view under the old name (``SELECT *`` over one table is updatable in
  PostgreSQL, so old code's reads and writes keep working), in one transaction.
- contract (escalated: deploy after no release uses the old name): the view is dropped.

Each step's downgrade undoes exactly that step. Downgrade ops that are the reverse rename of a
rewritten one become the reverse of its expand step; the hook must therefore rename in both
directions (as a ``Rewriter``, which sees the downgrade ops too, naturally does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from sqlalchemy import Column, Integer
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.schema import DefaultClause

from alembic_safety.rewrite.constraints import row_trigger, table_sql
from alembic_safety.rewrite.custom_ops import (
    AutocommitBlockOp,
    BackfillOp,
    NoteOp,
    ReversibleExecuteSQLOp,
    fit_identifier,
    quoter,
)
from alembic_safety.rewrite.header import Phase
from alembic_safety.risk import Direction

__all__ = [
    "ColumnRename",
    "RenameScript",
    "Renames",
    "TableRename",
    "rename_column",
    "rename_follow_ups",
    "rename_table",
]


@dataclass(frozen=True)
class ColumnRename:
    """A column renamed through a synced copy: what the migrate and contract steps need."""

    schema: str | None
    table: str
    old: str
    new: str
    type_: Any
    #: Whether the old column allows NULL (the new one gets the same once it is filled).
    nullable: bool
    #: The old column's server default, as ``server_default=`` takes it (None: none).
    server_default: Any
    #: The table's single integer primary key column, for keyset batches.
    key: str
    #: The model's indexes and constraints on the new column: not carried over automatically.
    dependents: tuple[str, ...] = ()

    @property
    def function(self) -> str:
        return fit_identifier(f"{self.table}_{self.new}_rename_sync")

    def check_name(self, column: str) -> str:
        return fit_identifier(f"ck_{self.table}_{column}_not_null")

    def default_clause(self) -> DefaultClause:
        """A fresh clause each time (one belongs to one column), which Alembic renders right:
        ``sa.text(...)`` for SQL, a quoted literal for a string."""
        return DefaultClause(self.server_default)


@dataclass(frozen=True)
class TableRename:
    """A table renamed with a view under its old name until the contract step."""

    schema: str | None
    old: str
    new: str


@dataclass
class Renames:
    """The renames a script's expand step made, for its migrate and contract scripts."""

    columns: list[ColumnRename] = field(default_factory=list)
    tables: list[TableRename] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.columns or self.tables)


class RenameScript(NamedTuple):
    """One follow-up script: its phase, upgrade and downgrade ops, and escalation notes."""

    phase: Phase
    upgrade: list[ops.MigrateOperation]
    downgrade: list[ops.MigrateOperation]
    escalations: list[str]


# -- helpers -----------------------------------------------------------------------------------


def _pure_rename(op: ops.AlterColumnOp) -> bool:
    """Only the name changes (a type or nullability change at once is left as generated)."""
    return (
        op.modify_name is not None
        and op.modify_type is None
        and op.modify_nullable is None
        and op.modify_server_default is False
        and op.modify_comment is False
    )


def _default_argument(value: Any) -> tuple[bool, Any]:
    """(usable, what ``server_default=`` takes) for a server default; (True, None) for none."""
    if value is None or value is False:
        return True, None
    if isinstance(value, DefaultClause):
        value = value.arg
    if isinstance(value, (str, ClauseElement)):
        return True, value
    return False, None  # Identity, Computed, FetchedValue: nothing a second column can copy


def _default_sql(dialect: Dialect, default: Any) -> str:
    column: Column[Any] = Column("x", Integer, server_default=default)
    compiler = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]  # no statement
    return str(compiler.get_column_default_string(column))


def _column_dependents(model_table: Any, column: str) -> tuple[str, ...]:
    """The model's indexes and constraints that use ``column``, by name (or kind)."""
    names: list[str] = []
    for item in [*model_table.indexes, *model_table.constraints]:
        columns = getattr(item, "columns", ())
        if any(getattr(c, "name", None) == column for c in columns):
            names.append(str(item.name) if item.name else f"an unnamed {type(item).__name__}")
    return tuple(sorted(names))


def _todo(op: ops.AlterColumnOp, why: str) -> list[ops.MigrateOperation]:
    note = NoteOp(
        f"TODO(alembic-safety): renaming {op.table_name}.{op.column_name} to {op.modify_name} "
        f"breaks running code that still uses {op.column_name};\nno expand/migrate/contract "
        f"steps were generated because {why}.\nConsider a new column kept in sync by a trigger, "
        "by hand."
    )
    return [note, op]


# -- columns -----------------------------------------------------------------------------------


def rename_column(
    dialect: Dialect,
    direction: Direction,
    op: ops.AlterColumnOp,
    model_table: Any,
    renames: Renames,
) -> ops.MigrateOperation | list[ops.MigrateOperation]:
    """The expand step of a column rename (upgrade side), or its reverse (downgrade side).

    ``model_table`` is the model's Table (None when env.py's metadata does not have it); the
    rename is recorded in ``renames`` for the follow-up scripts.
    """
    if not _pure_rename(op):
        return op
    if direction == "downgrade":
        return _undo_column_rename(dialect, op, renames)
    new = str(op.modify_name)
    model_column = model_table.c.get(new) if model_table is not None else None
    keys = list(model_table.primary_key.columns) if model_table is not None else []
    type_ = (
        op.existing_type if op.existing_type is not None else getattr(model_column, "type", None)
    )
    default = op.existing_server_default
    if (default is None or default is False) and model_column is not None:
        default = model_column.server_default
    usable, default = _default_argument(default)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return _todo(op, "the model's table has no single-column integer primary key")
    if keys[0].name in (op.column_name, new):
        return _todo(op, "it is the primary key")
    if type_ is None:
        return _todo(op, "its type is unknown (give the op existing_type=)")
    if model_column is not None and (
        model_column.identity is not None or model_column.computed is not None
    ):
        return _todo(op, "it is an identity or generated column")
    if not usable or (default is not None and "nextval(" in _default_sql(dialect, default)):
        return _todo(op, "its default belongs to it (a sequence or an identity)")
    if op.existing_nullable is not None:
        nullable = bool(op.existing_nullable)
    else:
        nullable = model_column is None or bool(model_column.nullable)
    rename = ColumnRename(
        schema=op.schema,
        table=op.table_name,
        old=op.column_name,
        new=new,
        type_=type_,
        nullable=nullable,
        server_default=default,
        key=str(keys[0].name),
        dependents=_column_dependents(model_table, new),
    )
    renames.columns.append(rename)
    return expand_column_rename(dialect, rename)


def _undo_column_rename(
    dialect: Dialect, op: ops.AlterColumnOp, renames: Renames
) -> ops.MigrateOperation | list[ops.MigrateOperation]:
    """The downgrade's reverse rename of a rewritten one → undo the expand step instead."""
    for rename in renames.columns:
        if (rename.schema, rename.table, rename.new, rename.old) == (
            op.schema,
            op.table_name,
            op.column_name,
            op.modify_name,
        ):
            expand = expand_column_rename(dialect, rename)
            return [operation.reverse() for operation in reversed(expand)]
    return op


def _sync_ops(dialect: Dialect, rename: ColumnRename) -> list[ops.MigrateOperation]:
    """The trigger function and trigger keeping the old and new columns equal, both ways."""
    quote = quoter(dialect)
    old, new = f"NEW.{quote(rename.old)}", f"NEW.{quote(rename.new)}"
    body = (
        # INSERT: the new name wins when given; otherwise it takes the old one's value.
        f"IF TG_OP = 'INSERT' THEN IF {new} IS NULL THEN {new} := {old}; "
        f"ELSE {old} := {new}; END IF; "
        # UPDATE: whichever changed wins; rows not yet backfilled get filled on the way.
        f"ELSIF {new} IS DISTINCT FROM OLD.{quote(rename.new)} THEN {old} := {new}; "
        f"ELSE {new} := {old}; END IF; RETURN NEW;"
    )
    return [*row_trigger(dialect, rename.schema, rename.table, rename.function, body)]


def expand_column_rename(dialect: Dialect, rename: ColumnRename) -> list[ops.MigrateOperation]:
    """Add the new column (nullable, no default yet) and the trigger that syncs both."""
    column: Column[Any] = Column(rename.new, rename.type_, nullable=True)
    return [
        ops.AddColumnOp(rename.table, column, schema=rename.schema),
        *_sync_ops(dialect, rename),
    ]


def _backfill(dialect: Dialect, rename: ColumnRename, target: str, source: str, size: int) -> Any:
    quote = quoter(dialect)
    table = table_sql(dialect, rename.schema, rename.table)
    return BackfillOp(table, quote(rename.key), quote(target), quote(source), size)


def _not_null(dialect: Dialect, rename: ColumnRename, column: str) -> list[ops.MigrateOperation]:
    """NOT NULL without a long lock: CHECK NOT VALID, VALIDATE, SET NOT NULL, drop the CHECK.

    Meant for an autocommit block: the VALIDATE scan holds only SHARE UPDATE EXCLUSIVE, and
    ``SET NOT NULL`` skips its own scan thanks to the validated CHECK (PostgreSQL 12+).
    """
    quote = quoter(dialect)
    name = rename.check_name(column)
    check = ops.CreateCheckConstraintOp(
        name,
        rename.table,
        f"{quote(column)} IS NOT NULL",
        schema=rename.schema,
        postgresql_not_valid=True,
    )
    table = table_sql(dialect, rename.schema, rename.table)
    return [
        check,
        ReversibleExecuteSQLOp(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote(name)}", None),
        _alter(rename, column, existing_nullable=True, modify_nullable=False),
        ops.DropConstraintOp.from_constraint(check.to_constraint()),
    ]


def _alter(rename: ColumnRename, column: str, **changes: Any) -> ops.AlterColumnOp:
    changes.setdefault("existing_nullable", rename.nullable)
    return ops.AlterColumnOp(
        rename.table, column, schema=rename.schema, existing_type=rename.type_, **changes
    )


def _in_step(dialect: Dialect, rename: ColumnRename) -> ReversibleExecuteSQLOp:
    """Fail loudly, before anything is dropped, if a row's new column differs from the old."""
    quote = quoter(dialect)
    table = table_sql(dialect, rename.schema, rename.table)
    message = (
        f"{rename.table}.{rename.new} differs from {rename.old} in some rows: run the migrate "
        "revision (its backfill) first, then retry"
    )
    message = message.replace("'", "''").replace("%", "%%")
    sql = (
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM {table} WHERE {quote(rename.new)} "
        f"IS DISTINCT FROM {quote(rename.old)}) THEN RAISE EXCEPTION '{message}'; END IF; END $$"
    )
    return ReversibleExecuteSQLOp(sql, None)


def migrate_column_rename(
    dialect: Dialect, rename: ColumnRename, batch_size: int
) -> list[ops.MigrateOperation]:
    """The keyset-batched backfill ``new := old``, outside a transaction (a commit per batch)."""
    operations: list[ops.MigrateOperation] = []
    if rename.dependents:
        operations.append(
            NoteOp(
                f"TODO(alembic-safety): {', '.join(rename.dependents)} use {rename.table}."
                f"{rename.new} in the models;\nthe ones on {rename.old} go with it in the "
                f"contract step: create them on {rename.new} (CONCURRENTLY) before it."
            )
        )
    backfill = _backfill(dialect, rename, rename.new, rename.old, batch_size)
    return [*operations, AutocommitBlockOp([backfill])]


def contract_column_rename(
    dialect: Dialect, rename: ColumnRename, batch_size: int
) -> tuple[list[ops.MigrateOperation], list[ops.MigrateOperation], list[ops.MigrateOperation]]:
    """Make the new column what the old one was and drop the old one: (checks, upgrade,
    downgrade); the checks go first in the upgrade, before anything of the script is dropped.

    The checks, outside a transaction (no lock held while they scan): no row's new column
    differs from the old one, and NOT NULL, enforced while the trigger still fills the old
    column from the new one. The default, the trigger and the old column then go in one short
    transaction. The downgrade brings the old column back, synced again and refilled in batches.
    """
    old_column: Column[Any] = Column(rename.old, rename.type_, nullable=rename.nullable)
    sync = _sync_ops(dialect, rename)
    checks: list[ops.MigrateOperation] = [_in_step(dialect, rename)]
    if not rename.nullable:
        checks += _not_null(dialect, rename, rename.new)
    upgrade: list[ops.MigrateOperation] = [
        NoteOp(
            f"Indexes, constraints and views on {rename.table}.{rename.old} go with it: create "
            f"them on {rename.new}\nin an earlier revision."
        )
    ]
    if rename.server_default is not None:
        upgrade.append(_alter(rename, rename.new, modify_server_default=rename.default_clause()))
    upgrade += [operation.reverse() for operation in reversed(sync)]
    upgrade.append(
        ops.DropColumnOp.from_column_and_tablename(rename.schema, rename.table, old_column)
    )

    added: Column[Any] = Column(rename.old, rename.type_, nullable=True)
    downgrade: list[ops.MigrateOperation] = [
        ops.AddColumnOp(rename.table, added, schema=rename.schema)
    ]
    if rename.server_default is not None:
        downgrade += [
            _alter(
                rename,
                rename.old,
                existing_nullable=True,
                modify_server_default=rename.default_clause(),
            ),
            _alter(
                rename,
                rename.new,
                existing_server_default=rename.default_clause(),
                modify_server_default=None,
            ),
        ]
    if not rename.nullable:
        downgrade.append(_alter(rename, rename.new, modify_nullable=True))
    downgrade += sync
    refill: list[ops.MigrateOperation] = [
        _backfill(dialect, rename, rename.old, rename.new, batch_size)
    ]
    if not rename.nullable:
        refill += _not_null(dialect, rename, rename.old)
    downgrade.append(AutocommitBlockOp(refill))
    return [AutocommitBlockOp(checks)], upgrade, downgrade


# -- tables ------------------------------------------------------------------------------------


def _view_sql(dialect: Dialect, rename: TableRename) -> tuple[str, str]:
    """(CREATE VIEW old AS SELECT * FROM new, DROP VIEW old)."""
    old = table_sql(dialect, rename.schema, rename.old)
    new = table_sql(dialect, rename.schema, rename.new)
    return f"CREATE VIEW {old} AS SELECT * FROM {new}", f"DROP VIEW {old}"


def rename_table(
    dialect: Dialect, direction: Direction, op: ops.RenameTableOp, renames: Renames
) -> ops.MigrateOperation | list[ops.MigrateOperation]:
    """The rename plus a view under the old name (upgrade side), or its reverse (downgrade)."""
    if direction == "downgrade":
        for rename in renames.tables:
            if (rename.schema, rename.new, rename.old) == (
                op.schema,
                op.table_name,
                op.new_table_name,
            ):
                create, drop = _view_sql(dialect, rename)
                # Renaming back breaks code that uses the new name: say when that is fine.
                reason = NoteOp(
                    "alembic-safety: ignore[AS202] run once the application is rolled back to "
                    f"a release that uses {rename.old}"
                )
                return [ReversibleExecuteSQLOp(drop, create), reason, op]
        return op
    rename = TableRename(op.schema, str(op.table_name), str(op.new_table_name))
    renames.tables.append(rename)
    create, drop = _view_sql(dialect, rename)
    note = NoteOp(
        f"{rename.old} stays usable as an updatable view until the contract step. Sequences,\n"
        f"indexes and constraints keep their names (e.g. {rename.old}_id_seq). The view has the\n"
        f"columns {rename.new} has now: it does not follow later changes, and blocks dropping or\n"
        "retyping them, until it is dropped."
    )
    return [note, op, ReversibleExecuteSQLOp(create, drop)]


def _render_rename_table(autogen_context: AutogenContext, operation: ops.RenameTableOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix")
    schema = f", schema={operation.schema!r}" if operation.schema else ""
    return (
        f"{prefix if prefix is not None else 'op.'}rename_table("
        f"{operation.table_name!r}, {operation.new_table_name!r}{schema})"
    )


def _has_renderer(operation: type[ops.MigrateOperation]) -> bool:
    try:
        renderers.dispatch(operation)
    except ValueError:
        return False
    return True


# Autogenerate never emits a table rename, so Alembic (1.x) cannot write one into a file; a hook
# that makes one needs this. Registered only while Alembic has none of its own.
if not _has_renderer(ops.RenameTableOp):
    renderers.dispatch_for(ops.RenameTableOp)(_render_rename_table)


# -- follow-up scripts -------------------------------------------------------------------------


def rename_follow_ups(dialect: Dialect, renames: Renames, batch_size: int) -> list[RenameScript]:
    """The migrate script (column backfills) and the contract script, in order."""
    scripts: list[RenameScript] = []
    if renames.columns:
        migrate = [
            operation
            for rename in renames.columns
            for operation in migrate_column_rename(dialect, rename, batch_size)
        ]
        scripts.append(RenameScript("migrate", migrate, [], []))
    if not renames:
        return scripts
    upgrade: list[ops.MigrateOperation] = []
    downgrade: list[ops.MigrateOperation] = []
    escalations: list[str] = []
    contracts = [contract_column_rename(dialect, c, batch_size) for c in renames.columns]
    # Checks first: a failed one leaves everything as it was (and a rerun works).
    checks = [op_ for checked, _, _ in contracts for op_ in checked]
    # Views next: one over a renamed table would block dropping a renamed column of it.
    for table in renames.tables:
        create, drop = _view_sql(dialect, table)
        upgrade.append(ReversibleExecuteSQLOp(drop, create))
        downgrade.insert(0, ReversibleExecuteSQLOp(create, drop))
        escalations.append(
            f"needs the application to stop using {table.old} first; deploy after that release"
        )
    for column, (_, up, down) in zip(renames.columns, contracts, strict=True):
        upgrade += up
        downgrade[:0] = down
        escalations.append(
            f"needs the application to read and write {column.table}.{column.new} only; "
            "deploy after that release"
        )
    scripts.append(RenameScript("contract", checks + upgrade, downgrade, escalations))
    return scripts
