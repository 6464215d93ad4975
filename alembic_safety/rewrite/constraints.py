"""Indexes and constraints built without long locks, as operations the rewriter emits.

- Every ``CREATE INDEX CONCURRENTLY`` is preceded by the drop of an INVALID leftover of the same
  name (what a failed concurrent build leaves behind) and made ``IF NOT EXISTS``, so a revision
  that failed half-way can simply be run again.
- A UNIQUE constraint or PRIMARY KEY on an existing table becomes a unique index built
  ``CONCURRENTLY``, then ``ADD CONSTRAINT ... USING INDEX``: the constraint adopts the finished
  index, holding ACCESS EXCLUSIVE only for a catalog update.
- NOT NULL is enforced without a scan under ACCESS EXCLUSIVE: ``CHECK (col IS NOT NULL) NOT
  VALID``, ``VALIDATE`` (SHARE UPDATE EXCLUSIVE: reads and writes go on), ``SET NOT NULL``
  (PostgreSQL 12+ skips its scan thanks to the validated check), the check dropped; a
  validation block first stops the revision, with what to do, while NULLs remain.

All of it runs in an autocommit block: each statement commits on its own, so no lock is held
longer than its statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import NoSuchTableError

from alembic_safety.rewrite.custom_ops import (
    AssertNoNullsOp,
    AutocommitBlockOp,
    DropInvalidIndexOp,
    ReversibleExecuteSQLOp,
    fit_identifier,
    quoter,
)

__all__ = [
    "NotNullSteps",
    "concurrent_index",
    "constraint_using_index",
    "not_null_steps",
    "row_trigger",
    "table_sql",
    "unvalidate_constraint",
    "validate_constraint",
]


#: Options of a UNIQUE constraint that its unique index carries (PostgreSQL 11+ / 15+).
_INDEX_OPTIONS = ("postgresql_include", "postgresql_nulls_not_distinct")
#: Options ``ADD CONSTRAINT ... USING INDEX`` takes itself.
_CONSTRAINT_OPTIONS = ("deferrable", "initially")


def table_sql(dialect: Dialect, schema: str | None, table: str) -> str:
    """``schema.table``, each part quoted when it needs to be."""
    quote = quoter(dialect)
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


def validate_constraint(
    dialect: Dialect, schema: str | None, table: str, name: str
) -> ReversibleExecuteSQLOp:
    """``VALIDATE CONSTRAINT``: it proves existing rows, so a downgrade has nothing to undo."""
    quote = quoter(dialect)
    sql = f"ALTER TABLE {table_sql(dialect, schema, table)} VALIDATE CONSTRAINT {quote(name)}"
    return ReversibleExecuteSQLOp(sql, reverse_sqltext=None)


def row_trigger(
    dialect: Dialect, schema: str | None, table: str, name: str, body: str
) -> list[ReversibleExecuteSQLOp]:
    """A PL/pgSQL function ``name`` run ``BEFORE INSERT OR UPDATE`` of each row, and its trigger.

    ``body`` is the function's statements (ending with ``RETURN NEW;``). The shadow column and
    the column rename keep two columns equal this way; each op reverses to its ``DROP``.
    """
    target = table_sql(dialect, schema, table)
    function = table_sql(dialect, schema, name)
    trigger = quoter(dialect)(name)
    create_function = (
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
    )
    create_trigger = (
        f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {target} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
    return [
        ReversibleExecuteSQLOp(create_function, f"DROP FUNCTION {function}()"),
        ReversibleExecuteSQLOp(create_trigger, f"DROP TRIGGER {trigger} ON {target}"),
    ]


def unvalidate_constraint(
    dialect: Dialect, schema: str | None, table: str, name: str
) -> ReversibleExecuteSQLOp:
    """Undo a ``VALIDATE``: the constraint dropped and re-added ``NOT VALID``, in one statement.

    The downgrade of a revision that validated a constraint must leave it as the revision
    found it (the dry run compares the catalog, ``convalidated`` included). The definition is
    read from the catalog, so this works for any foreign key or CHECK; dropping and re-adding
    in one ``ALTER TABLE`` means no moment without the constraint. Brief ACCESS EXCLUSIVE, no
    scan (``NOT VALID``).
    """
    target = table_sql(dialect, schema, table)
    literal_table = target.replace("'", "''")
    literal_name = name.replace("'", "''")
    sql = (
        "DO $$ DECLARE definition text; BEGIN "
        f"SELECT pg_get_constraintdef(oid) INTO STRICT definition FROM pg_constraint "
        f"WHERE conrelid = '{literal_table}'::regclass AND conname = '{literal_name}'; "
        f"EXECUTE format('ALTER TABLE {literal_table} DROP CONSTRAINT %I, "
        f"ADD CONSTRAINT %I %s NOT VALID', '{literal_name}', '{literal_name}', definition); "
        "END $$"
    )
    return ReversibleExecuteSQLOp(sql, reverse_sqltext=None)


def concurrent_index(op: ops.CreateIndexOp) -> list[ops.MigrateOperation]:
    """Drop an INVALID leftover of the index, then create it ``CONCURRENTLY IF NOT EXISTS``.

    For an autocommit block. ``IF NOT EXISTS`` alone would keep an invalid leftover; the drop
    alone would fail on a valid index made by an earlier, interrupted run: together, a rerun
    finishes the job whatever state the previous run left.
    """
    assert op.index_name is not None, "autogenerate names every index"
    create = ops.CreateIndexOp(
        op.index_name,
        op.table_name,
        op.columns,
        schema=op.schema,
        unique=op.unique,
        if_not_exists=True,
        **{**op.kw, "postgresql_concurrently": True},
    )
    return [DropInvalidIndexOp(op.index_name, op.table_name, op.schema), create]


@dataclass(frozen=True)
class NotNullSteps:
    """The steps that make ``column`` NOT NULL without scanning under ACCESS EXCLUSIVE."""

    #: Counts NULLs and raises with what to do: nothing has changed yet when it fails.
    guard: AssertNoNullsOp
    check: ops.CreateCheckConstraintOp
    validate: ReversibleExecuteSQLOp
    enforce: ops.AlterColumnOp
    cleanup: ops.DropConstraintOp

    def in_order(self) -> list[ops.MigrateOperation]:
        return [self.guard, self.check, self.validate, self.enforce, self.cleanup]


def not_null_check_name(table: str, column: str) -> str:
    return fit_identifier(f"ck_{table}_{column}_not_null")


def not_null_steps(
    dialect: Dialect, schema: str | None, table: str, column: str, type_: Any
) -> NotNullSteps:
    """Guard, ``CHECK (col IS NOT NULL) NOT VALID``, ``VALIDATE``, ``SET NOT NULL``, drop check."""
    quote = quoter(dialect)
    name = not_null_check_name(table, column)
    check = ops.CreateCheckConstraintOp(
        name, table, f"{quote(column)} IS NOT NULL", schema=schema, postgresql_not_valid=True
    )
    return NotNullSteps(
        guard=AssertNoNullsOp(table_sql(dialect, schema, table), quote(column)),
        check=check,
        validate=validate_constraint(dialect, schema, table, name),
        enforce=ops.AlterColumnOp(
            table,
            column,
            schema=schema,
            existing_type=type_,
            existing_nullable=True,
            modify_nullable=False,
        ),
        # Made from the constraint, so it knows what it drops: ``alembic check`` diffs need that.
        cleanup=ops.DropConstraintOp.from_constraint(check.to_constraint()),
    )


UsingIndexOp = ops.CreateUniqueConstraintOp | ops.CreatePrimaryKeyOp


def constraint_using_index(
    context: MigrationContext, op: UsingIndexOp, model_table: Any = None
) -> AutocommitBlockOp | None:
    """``op`` as a unique index built concurrently, adopted by ``ADD CONSTRAINT ... USING INDEX``.

    None when it cannot be done that way: an unnamed constraint (the index needs the name) or an
    option the index or ``USING INDEX`` cannot carry. A PRIMARY KEY also needs its columns NOT
    NULL, or ``ADD CONSTRAINT`` sets them itself, scanning the table under ACCESS EXCLUSIVE:
    columns the database does not already hold NOT NULL (all of them when there is no database
    to ask, e.g. offline) get the NOT NULL steps first; ``model_table`` (the model's Table, if
    known) gives their types.
    """
    options = {key: value for key, value in op.kw.items() if value is not None}
    initially = str(options.get("initially", "IMMEDIATE")).upper()
    if (
        op.constraint_name is None
        or set(options) - {*_INDEX_OPTIONS, *_CONSTRAINT_OPTIONS}
        or initially not in ("IMMEDIATE", "DEFERRED")
    ):
        return None
    dialect = context.dialect
    quote = quoter(dialect)
    name = str(op.constraint_name)
    primary = isinstance(op, ops.CreatePrimaryKeyOp)
    columns = [str(column) for column in op.columns]
    index = ops.CreateIndexOp(
        name,
        op.table_name,
        columns,
        schema=op.schema,
        unique=True,
        **{key: value for key, value in options.items() if key in _INDEX_OPTIONS},
    )
    guards: list[ops.MigrateOperation] = []
    enforce: list[ops.MigrateOperation] = []
    if primary:
        types = (
            {str(c.name): c.type for c in model_table.columns} if model_table is not None else {}
        )
        for column in _nullable_in_database(context, op.schema, op.table_name, columns):
            steps = not_null_steps(dialect, op.schema, op.table_name, column, types.get(column))
            guards.append(steps.guard)  # all counts first: a failure leaves nothing half done
            enforce += steps.in_order()[1:]
    table = table_sql(dialect, op.schema, op.table_name)
    kind = "PRIMARY KEY" if primary else "UNIQUE"
    add = f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {kind} USING INDEX {quote(name)}"
    if options.get("deferrable") is not None:
        add += " DEFERRABLE" if options["deferrable"] else " NOT DEFERRABLE"
    if "initially" in options:
        add += f" INITIALLY {initially}"
    drop = f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}"  # drops the index with it
    return AutocommitBlockOp(
        [*guards, *concurrent_index(index), *enforce, ReversibleExecuteSQLOp(add, drop)]
    )


def _nullable_in_database(
    context: MigrationContext, schema: str | None, table: str, columns: Sequence[str]
) -> list[str]:
    """The ``columns`` not already NOT NULL in the database; all of them without a database."""
    if context.connection is None:
        return list(columns)
    try:
        reflected = inspect(context.connection).get_columns(table, schema=schema)
    except NoSuchTableError:
        return list(columns)
    found = {str(column["name"]): bool(column["nullable"]) for column in reflected}
    return [column for column in columns if found.get(column, True)]
