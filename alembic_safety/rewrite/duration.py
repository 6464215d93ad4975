"""The header's "Estimated Duration": which steps grow with table size, and how big those are.

A generated revision is either catalog-only (adding a nullable column, a ``NOT VALID``
constraint, renames: milliseconds once the lock is granted) or it has steps whose time grows
with the rows of a table (an index build, a ``VALIDATE`` scan, a batched backfill, a rewrite).
The header says which, and names the tables with their size where autogenerate ran
(``pg_class.reltuples``, read through the connection autogenerate already holds; a read of
statistics, nothing else). Seconds are not guessed here: they depend on the production
machine; ``alembic-safety dry-run`` measures them (and extrapolates with ``--production-rows``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from alembic.operations import ops
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from alembic_safety.rewrite.custom_ops import NoteOp, leaves

__all__ = ["describe_duration", "read_row_estimates", "size_bound_tables"]

#: ``ALTER TABLE <table> VALIDATE CONSTRAINT``: a scan of the table (no lock on writes).
_VALIDATE = re.compile(
    r"ALTER\s+TABLE\s+(?:ONLY\s+)?(?P<table>[^\s]+)\s+VALIDATE\s+CONSTRAINT", re.I
)
#: ``INSERT INTO <table> ... SELECT``: a copy whose time grows with the source's rows.
_COPY_FROM = re.compile(r"\bSELECT\b.+?\bFROM\s+(?P<table>[^\s;)]+)", re.I | re.S)

#: ``count(*) [INTO x] FROM <table>``: a validation block counting rows (a full scan).
_COUNT_FROM = re.compile(r"count\(\*\)\s+(?:INTO\s+\w+\s+)?FROM\s+(?P<table>[^\s;)]+)", re.I)

_CATALOG_ONLY = "under a second once its locks are granted (catalog changes only)"


def _unquote(name: str) -> str:
    """``"sales"."orders"`` → ``orders``: statistics are looked up by the bare table name."""
    return name.split(".")[-1].strip('"')


def _size_bound_table(operation: ops.MigrateOperation) -> str | None:
    """The table whose rows this step reads or writes, when its time grows with them."""
    if isinstance(operation, ops.CreateIndexOp):
        return str(operation.table_name)
    scanned = getattr(operation, "scans", None)  # our own ops say which rows they read
    if isinstance(scanned, str):
        return _unquote(scanned)
    if isinstance(operation, ops.AlterColumnOp):
        # a type change rewrites or re-checks; SET NOT NULL scans unless a CHECK proves it
        if operation.modify_type is not None or operation.modify_nullable is False:
            return str(operation.table_name)
        return None
    if isinstance(
        operation,
        (
            ops.CreateForeignKeyOp,
            ops.CreateCheckConstraintOp,
            ops.CreateUniqueConstraintOp,
            ops.CreatePrimaryKeyOp,
        ),
    ):
        if operation.kw.get("postgresql_not_valid"):
            return None
        source = getattr(operation, "source_table", None) or getattr(operation, "table_name", "")
        return str(source)
    return None


def _tables_in_sql(sql: str) -> list[str]:
    """Tables a SQL statement validates, counts or copies from (a DO block may count several)."""
    matches = [*_VALIDATE.finditer(sql), *_COUNT_FROM.finditer(sql)]
    if not matches and sql.lstrip().upper().startswith("INSERT"):
        matches = list(_COPY_FROM.finditer(sql))
    matches.sort(key=lambda match: match.start())
    return [_unquote(match.group("table")) for match in matches]


def _size_bound(operation: ops.MigrateOperation) -> list[str]:
    if isinstance(operation, ops.ExecuteSQLOp) and isinstance(operation.sqltext, str):
        return _tables_in_sql(operation.sqltext)
    table = _size_bound_table(operation)
    return [table] if table else []


def size_bound_tables(script: ops.MigrationScript) -> list[str]:
    """Existing tables whose size drives the upgrade's duration, in order of first use.

    Tables the upgrade creates are empty while it runs: they never count.
    """
    # a note only counts when it asks for a backfill (its ``scans``)
    found = [o for o in leaves(script.upgrade_ops_list) if not isinstance(o, NoteOp) or o.scans]
    created = {str(o.table_name) for o in found if isinstance(o, ops.CreateTableOp)}
    tables = (table for operation in found for table in _size_bound(operation))
    return [t for t in dict.fromkeys(tables) if t not in created]


def read_row_estimates(connection: Any, tables: Sequence[str]) -> dict[str, int]:
    """``pg_class.reltuples`` per table through autogenerate's connection; {} when unknown.

    Never raises: the header is a courtesy, and autogenerate must not fail because statistics
    could not be read (another dialect, no connection, an aborted transaction).
    """
    if not tables or connection is None or connection.dialect.name != "postgresql":
        return {}
    query = text(
        # reltuples is -1 until the table is first vacuumed or analysed: unknown, not empty
        "SELECT c.relname, c.reltuples::bigint FROM pg_class c "
        "WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(:names) "
        "AND c.reltuples >= 0 AND pg_table_is_visible(c.oid)"
    )
    try:
        with connection.begin_nested():
            rows = connection.execute(query, {"names": list(tables)}).all()
    except SQLAlchemyError:
        return {}
    return {str(name): int(count) for name, count in rows}


def describe_duration(tables: Sequence[str], rows: Mapping[str, int]) -> str:
    """The header's value: catalog-only, or the tables it grows with and their sizes."""
    if not tables:
        return _CATALOG_ONLY
    named = [f"{t} (~{rows[t]:,} rows here)" if t in rows else t for t in tables]
    return f"grows with the rows of {', '.join(named)}; measure it with alembic-safety dry-run"
