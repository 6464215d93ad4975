"""Synthetic rows, so that revisions meet data: a NOT NULL add, a unique index, a type change.

Before each revision every table that exists is topped up to the configured row count (default
100; ``rows = 0`` turns seeding off; per-table overrides ``table=N``). The values are generated
by the server, one ``INSERT … SELECT … FROM generate_series`` per table, from the schema
snapshot the stairway already took (one catalog round trip instead of an inspector per table):

* columns with a server default, identity or generated columns are left out;
* values follow the column's type (numbers, strings within their length, dates, uuids, json,
  booleans, enum labels, inet ...), distinct per row so unique keys hold; integer keys continue
  after the current maximum;
* foreign keys take existing parent rows (parents are seeded first);
* a column named in a CHECK constraint that lists string literals takes one of them.

Anything else that makes an insert fail (an exotic check, a required column of a type we
cannot invent) skips that table with a note: seeding problems never fail the dry run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from alembic_safety.dryrun.snapshot import Column, Snapshot, Table

__all__ = ["SeedResult", "Seeder"]

_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'")


@dataclass
class SeedResult:
    """Rows inserted per table, and why tables were skipped."""

    inserted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _parents_first(tables: Mapping[str, Table]) -> list[Table]:
    """Tables ordered so that referenced tables come before referencing ones (cycles: as is)."""
    ordered: list[Table] = []
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        if state.get(key):
            return
        state[key] = 1
        for _cols, parent, _refcols in tables[key].foreign_keys:
            if parent in tables and parent != key:
                visit(parent)
        state[key] = 2
        ordered.append(tables[key])

    for key in sorted(tables):
        visit(key)
    return ordered


def _check_literals(table: Table, column: str) -> list[str]:
    """String literals of CHECK constraints that name only ``column`` (an IN-list, usually)."""
    pattern = re.compile(rf'(?<![\w"])"?{re.escape(column)}"?(?![\w"])')
    values: list[str] = []
    for definition in table.checks:
        if not pattern.search(definition):
            continue
        others = [c.name for c in table.columns if c.name != column]
        if any(re.search(rf"(?<![\w\"]){re.escape(o)}(?![\w\"])", definition) for o in others):
            continue
        values.extend(v.replace("''", "'") for v in _STRING_LITERAL.findall(definition))
    return list(dict.fromkeys(values))


def _value(column: Column, n: sql.Composable) -> sql.Composable | None:
    """A SQL expression of the row number ``n`` for ``column``'s type, or None if unknown."""
    base, mod = column.base, column.typmod
    if column.enum_labels:
        labels = sql.Literal(list(column.enum_labels))
        size = sql.Literal(len(column.enum_labels))
        return sql.SQL("(({}::text[])[1 + ({}) % {}])").format(labels, n, size)
    category = column.category
    if category == "N":
        if base == "int2":
            return sql.SQL("(({}) % 32000)").format(n)
        if base == "numeric" and mod >= 4:
            precision, scale = ((mod - 4) >> 16) & 0xFFFF, (mod - 4) & 0xFFFF
            digits = min(precision - scale, 15)
            if digits <= 0:
                return sql.SQL("0")
            return sql.SQL("(({}) % {})").format(n, sql.Literal(10**digits))
        if base in ("float4", "float8"):
            return sql.SQL("(({}) * 1.5)").format(n)
        return sql.SQL("({})").format(n)
    if category == "S":
        text = sql.SQL("to_hex({})").format(n)
        length = mod - 4 if base in ("varchar", "bpchar") and mod > 4 else None
        if length is not None and length < 8:
            return sql.SQL("right({}, {})").format(text, sql.Literal(length))
        return text
    if category == "B":
        return sql.SQL("(({}) % 2 = 0)").format(n)
    if category == "D":
        if base == "date":
            return sql.SQL("(DATE '2024-01-01' + (({}) % 3650)::int)").format(n)
        if base in ("time", "timetz"):
            return sql.SQL("(TIME '00:00' + (({}) % 86400) * INTERVAL '1 second')").format(n)
        return sql.SQL("(TIMESTAMP '2024-01-01' + ({}) * INTERVAL '1 minute')").format(n)
    if category == "T":
        return sql.SQL("(({}) * INTERVAL '1 second')").format(n)
    if category == "I":
        return sql.SQL("(INET '10.0.0.0' + ({}))").format(n)
    if category == "A":
        return sql.SQL("'{}'")
    if base == "uuid":
        return sql.SQL("md5(({})::text)::uuid").format(n)
    if base in ("json", "jsonb"):
        return sql.SQL("json_build_object('n', {})").format(n)
    if base == "bytea":
        return sql.SQL("decode(md5(({})::text), 'hex')").format(n)
    return None


class Seeder:
    """Tops tables up to their row count, one revision after another."""

    def __init__(self, rows: int, rows_per_table: Mapping[str, int] | None = None) -> None:
        self.rows = rows
        self.rows_per_table = dict(rows_per_table or {})
        #: Row numbers already handed out, so later inserts get fresh values.
        self._serial = 0

    @property
    def enabled(self) -> bool:
        return self.rows > 0 or any(v > 0 for v in self.rows_per_table.values())

    def target(self, table: Table) -> int:
        for key in (table.key, f"{table.schema}.{table.name}", table.name):
            if key in self.rows_per_table:
                return self.rows_per_table[key]
        return self.rows

    def seed(self, connection: psycopg.Connection[Any], snapshot: Snapshot) -> SeedResult:
        """Insert rows into every table below its target (``connection`` in autocommit)."""
        result = SeedResult()
        counts: dict[str, int] = {}
        for table in _parents_first(snapshot.tables):
            target = self.target(table)
            try:
                row = connection.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(table.ident)
                ).fetchone()
            except psycopg.Error as exc:
                result.notes.append(f"{table.key}: not seeded ({_short(exc)})")
                continue
            counts[table.key] = int(row[0]) if row else 0
            need = target - counts[table.key]
            if need <= 0:
                continue
            try:
                statement = self._insert(table, need, snapshot.tables, counts)
            except _Skip as skip:
                result.notes.append(f"{table.key}: not seeded ({skip})")
                continue
            try:
                cursor = connection.execute(statement)
            except psycopg.Error as exc:
                result.notes.append(f"{table.key}: not seeded ({_short(exc)})")
                continue
            self._serial += need
            result.inserted[table.key] = cursor.rowcount
            counts[table.key] += cursor.rowcount
        return result

    def _insert(
        self, table: Table, need: int, tables: Mapping[str, Table], counts: Mapping[str, int]
    ) -> sql.Composed:
        n = sql.SQL("({} + s.g)").format(sql.Literal(self._serial))
        names: list[sql.Composable] = []
        values: list[sql.Composable] = []
        ctes: list[sql.Composable] = []
        joins: list[sql.Composable] = []
        handled: set[str] = set()
        by_name = {c.name: c for c in table.columns}
        for index, (columns, parent_key, refcols) in enumerate(table.foreign_keys):
            if handled.intersection(columns):
                continue
            required = any(by_name[c].not_null for c in columns if c in by_name)
            parent = tables.get(parent_key)
            if parent is None or parent_key == table.key or not counts.get(parent_key):
                if required:
                    why = "it references itself" if parent_key == table.key else "is empty"
                    raise _Skip(f"its required foreign key to {parent_key}: {parent_key} {why}")
                handled.update(columns)  # left NULL
                continue
            alias, count_alias = sql.Identifier(f"fk{index}"), sql.Identifier(f"fkc{index}")
            ctes.append(
                sql.SQL(
                    "{alias} AS (SELECT {cols}, row_number() OVER () - 1 AS rn FROM {parent}), "
                    "{count} AS (SELECT count(*) AS cnt FROM {parent})"
                ).format(
                    alias=alias,
                    cols=sql.SQL(", ").join(map(sql.Identifier, refcols)),
                    parent=parent.ident,
                    count=count_alias,
                )
            )
            joins.append(
                sql.SQL(
                    " CROSS JOIN {count} LEFT JOIN {alias} ON {alias}.rn = (s.g - 1) % {count}.cnt"
                ).format(alias=alias, count=count_alias)
            )
            for fk_column, refcol in zip(columns, refcols, strict=False):
                names.append(sql.Identifier(fk_column))
                values.append(sql.SQL("{}.{}").format(alias, sql.Identifier(refcol)))
                handled.add(fk_column)
        keys = {c for key in [table.primary_key, *table.unique] for c in key}
        for column in table.columns:
            if column.name in handled or column.generated or column.has_default:
                continue
            literals = _check_literals(table, column.name)
            if literals:
                expression: sql.Composable | None = sql.SQL("(({}::text[])[1 + ({}) % {}])").format(
                    sql.Literal(literals), n, sql.Literal(len(literals))
                )
            elif column.name in keys and column.category == "N":
                expression = sql.SQL("((SELECT coalesce(max({c}), 0) FROM {t}) + s.g)").format(
                    c=sql.Identifier(column.name), t=table.ident
                )
            else:
                expression = _value(column, n)
            if expression is None:
                if column.not_null:
                    raise _Skip(f"no generator for required column {column.name} ({column.type})")
                continue
            names.append(sql.Identifier(column.name))
            values.append(sql.SQL("({})::{}").format(expression, sql.SQL(column.type)))
        with_clause = sql.SQL("WITH {} ").format(sql.SQL(", ").join(ctes)) if ctes else sql.SQL("")
        target = (
            sql.SQL("{} ({})").format(table.ident, sql.SQL(", ").join(names))
            if names
            else table.ident
        )
        return sql.SQL(
            "{with_clause}INSERT INTO {target} SELECT {values} "
            "FROM generate_series(1, {need}) AS s(g){joins}"
        ).format(
            with_clause=with_clause,
            target=target,
            values=sql.SQL(", ").join(values),
            need=sql.Literal(need),
            joins=sql.SQL("").join(joins),
        )


class _Skip(Exception):
    """This table cannot be seeded (the message says why)."""


def _short(exc: psycopg.Error) -> str:
    state = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    message = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    return f"{state}: {message}" if state else message
