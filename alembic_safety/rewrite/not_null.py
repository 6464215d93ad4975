"""The follow-up scripts of added columns and NOT VALID constraints: fill, validate, enforce.

The first script (expand) adds NOT NULL columns nullable and constraints ``NOT VALID`` (see
:mod:`alembic_safety.rewrite.fixes`). The migrate script, deployed after the code that writes
the new column, backfills existing rows when the models give the value (else a TODO says where
the user's backfill goes) and validates the constraints; the contract script stops with a clear
message while NULLs remain, then enforces NOT NULL through a validated CHECK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alembic.operations import ops
from sqlalchemy import Integer, Table
from sqlalchemy.engine.interfaces import Dialect

from alembic_safety.rewrite.constraints import (
    not_null_steps,
    table_sql,
    unvalidate_constraint,
    validate_constraint,
)
from alembic_safety.rewrite.custom_ops import (
    AssertNoNullsOp,
    AutocommitBlockOp,
    BackfillOp,
    NoteOp,
    quoter,
)

if TYPE_CHECKING:  # fixes imports this module: the types only, for annotations
    from alembic_safety.rewrite.fixes import Deferred, NotNullColumn

__all__ = ["BACKFILL_BATCH", "FollowUp", "integer_key", "safe_follow_up"]

#: Why a nullable column's NULLs must go: the volatile default moved out of its ADD COLUMN.
_DEFAULT_GIVES_A_VALUE = "its default gives every row a value; the ADD COLUMN no longer does"

#: Rows per backfill batch in the suggested loop (each batch is its own short transaction).
BACKFILL_BATCH = 5000


def integer_key(table: Any) -> str | None:
    """The single integer primary key of ``table`` (a model's Table), for keyset batches."""
    keys = list(table.primary_key.columns) if isinstance(table, Table) else []
    if len(keys) == 1 and isinstance(keys[0].type, Integer):
        return str(keys[0].name)
    return None


def _backfill_note(dialect: Dialect, item: NotNullColumn) -> NoteOp:
    """The TODO where the backfill goes, with a keyset loop to uncomment when the key allows.

    Only the user knows the value for existing rows (unless the models say it, see
    :mod:`alembic_safety.rewrite.fill_values`), so nothing is run: a wrong guess would be
    silently written to production data. The loop is the shape the linter accepts (AS502).
    """
    quote = quoter(dialect)
    table = table_sql(dialect, item.schema, item.table)
    column = quote(str(item.column.name))
    value = "<value>" if item.fill_sql is None else item.fill_sql.replace("\\:", ":")
    why = (
        "autogenerate cannot know the value"
        if item.fill_sql is None
        else f"the value is {value}, but the table has no single integer primary key"
    )
    lines = [
        f"TODO(alembic-safety): backfill {table}.{column}; {why}.",
        "The previous revision added it nullable: first deploy code that always writes it, then",
        "fill the old rows in keyset batches, each committed on its own. Until every row has a",
        "value, the next revision (the contract step, which makes it NOT NULL) refuses to run.",
    ]
    key = item.key
    if key is None:
        lines += [
            f"    UPDATE {table} SET {column} = <value>",
            f"    WHERE <key> > :last AND <key> <= :upto AND {column} IS NULL",
        ]
        return NoteOp("\n".join(lines), scans=table)
    pk = quote(key)
    select = (
        f"SELECT max({pk}) FROM (SELECT {pk} FROM {table} WHERE {pk} > :last "
        f"ORDER BY {pk} LIMIT {BACKFILL_BATCH}) AS batch"
    )
    update = (
        f"UPDATE {table} SET {column} = {value} "
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
    return NoteOp("\n".join(lines), scans=table)


@dataclass
class FollowUp:
    """The two follow-up steps: migrate (fill, validate) and contract (enforce NOT NULL).

    Either may be empty. The migrate step fills added columns (or holds the TODO where the
    user's backfill goes) and validates the constraints added ``NOT VALID``; the contract step
    makes the added columns NOT NULL, once the application always writes them.
    """

    migrate_up: list[ops.MigrateOperation] = field(default_factory=list)
    migrate_down: list[ops.MigrateOperation] = field(default_factory=list)
    contract_up: list[ops.MigrateOperation] = field(default_factory=list)
    contract_down: list[ops.MigrateOperation] = field(default_factory=list)
    #: The migrate step fills rows (a backfill or its TODO), not only validates.
    fills: bool = False


def safe_follow_up(dialect: Dialect, deferred: Deferred) -> FollowUp:
    """The migrate and contract steps for what the first script deferred.

    Each step runs in one autocommit block: every statement commits on its own, so the brief
    ACCESS EXCLUSIVE of ``ADD CONSTRAINT ... NOT VALID`` is released before ``VALIDATE`` scans
    (SHARE UPDATE EXCLUSIVE: reads and writes go on), and ``SET NOT NULL`` skips its scan
    (PostgreSQL 12+) thanks to the validated ``CHECK (col IS NOT NULL)``, dropped afterwards.
    Added columns whose value the models give are backfilled (keyset batches, one commit each,
    ending with a check that raises); the others get a TODO in the migrate step, and the
    contract step starts with a validation block that stops it, before it changes anything,
    while NULLs remain.
    """
    quote = quoter(dialect)
    notes: list[ops.MigrateOperation] = []
    fill: list[ops.MigrateOperation] = []
    validations: list[ops.MigrateOperation] = [
        validate_constraint(dialect, schema, table, name)
        for schema, table, name in deferred.validations
    ]
    guards: list[ops.MigrateOperation] = []
    checks: list[ops.MigrateOperation] = []
    proofs: list[ops.MigrateOperation] = []
    enforce: list[ops.MigrateOperation] = []
    cleanup: list[ops.MigrateOperation] = []
    for item in deferred.not_null:
        column = str(item.column.name)
        table = table_sql(dialect, item.schema, item.table)
        backfilled = False
        if item.fill_sql is not None and item.key is not None:
            backfilled = True
            size = deferred.backfill_batch_size
            fill.append(
                BackfillOp(
                    table, quote(item.key), quote(column), item.fill_sql, size, only_nulls=True
                )
            )
        else:
            notes.append(_backfill_note(dialect, item))
        if item.column.nullable:  # only its volatile default was moved out of the ADD
            if not backfilled:  # the TODO's backfill is the user's: check it was done
                fill.append(AssertNoNullsOp(table, quote(column), why=_DEFAULT_GIVES_A_VALUE))
            continue
        steps = not_null_steps(dialect, item.schema, item.table, column, item.column.type)
        # A separate revision, run later: NULLs written since the backfill stop it here too.
        guards.append(steps.guard)
        checks.append(steps.check)
        proofs.append(steps.validate)
        enforce.append(steps.enforce)
        cleanup.append(steps.cleanup)
    result = FollowUp(fills=bool(deferred.not_null))
    if notes or fill or validations:
        result.migrate_up = [*notes, AutocommitBlockOp([*fill, *validations])]
        # the constraints it validated go back to NOT VALID, as the expand step left them
        result.migrate_down = [
            unvalidate_constraint(dialect, schema, table, name)
            for schema, table, name in reversed(deferred.validations)
        ]
    if checks:
        result.contract_up = [AutocommitBlockOp([*guards, *checks, *proofs, *enforce, *cleanup])]
        result.contract_down = [
            ops.AlterColumnOp(
                item.table,
                str(item.column.name),
                schema=item.schema,
                existing_type=item.column.type,
                existing_nullable=False,
                modify_nullable=True,
            )
            for item in reversed(deferred.not_null)
            if not item.column.nullable
        ]
    return result
