"""Schema snapshots from pg_catalog, their differences, and data fingerprints.

A snapshot is one round trip: a single query returns the whole user schema as JSON (a dry run
takes two per revision, so this is on the hot path). Objects are keyed by name, never by oid —
a downgrade that drops and re-creates a table restores it as far as anyone can tell. Each object
maps to a description of everything that matters about it (a column's type, nullability and
default; an index's definition and validity; a constraint's definition and whether it is
validated), so comparing two snapshots is comparing two dicts, and a difference reads as a
sentence: ``index ix_orders_created_at still present after downgrade``.

The same query feeds the seeder (columns, keys, foreign keys, checks, enum labels) and the
rewrite detector (``relfilenode`` per table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "Column",
    "Fingerprint",
    "Snapshot",
    "Table",
    "diff_schemas",
    "fingerprints",
    "table_state",
    "take_inspector_snapshot",
    "take_snapshot",
]

_USER_NAMESPACES = """
    ns AS (
        SELECT oid, nspname FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
    ),
    ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
    rel AS (
        SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode
        FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.oid NOT IN (SELECT objid FROM ext)
    )
"""

_SNAPSHOT_SQL = f"""
WITH {_USER_NAMESPACES}
SELECT json_build_object(
  'schemas', (SELECT coalesce(json_agg(nspname), '[]') FROM ns
              WHERE nspname <> 'public' AND oid NOT IN (SELECT objid FROM ext)),
  'relations', (SELECT coalesce(json_agg(json_build_array(oid::bigint, nspname, relname, relkind,
                relfilenode::bigint)), '[]') FROM rel),
  'columns', (SELECT coalesce(json_agg(json_build_array(
                a.attrelid::bigint, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attnum,
                coalesce(bt.typcategory, t.typcategory), t.typtype, a.atttypid::bigint,
                (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::bigint,
                CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
                coalesce(bt.typname, t.typname)
              ) ORDER BY a.attrelid, a.attnum), '[]')
              FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid
              JOIN pg_type t ON t.oid = a.atttypid
              LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'v', 'm', 'f')),
  'indexes', (SELECT coalesce(json_agg(json_build_array(
                i.indrelid::bigint, n.nspname, ic.relname, pg_get_indexdef(i.indexrelid),
                i.indisvalid, i.indisunique, i.indisprimary, i.indkey::int2[],
                i.indpred IS NOT NULL)), '[]')
              FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
              JOIN ns n ON n.oid = ic.relnamespace
              WHERE i.indrelid IN (SELECT oid FROM rel)),
  'constraints', (SELECT coalesce(json_agg(json_build_array(
                co.conrelid::bigint, co.contypid::bigint, co.conname, co.contype,
                pg_get_constraintdef(co.oid), co.convalidated, co.conkey, co.confrelid::bigint,
                co.confkey)), '[]')
              FROM pg_constraint co JOIN ns n ON n.oid = co.connamespace
              WHERE co.oid NOT IN (SELECT objid FROM ext)),
  'sequences', (SELECT coalesce(json_agg(json_build_array(s.seqrelid::bigint,
                format_type(s.seqtypid, NULL), s.seqincrement, s.seqstart, s.seqmin, s.seqmax,
                s.seqcycle)), '[]')
              FROM pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rel)),
  'types', (SELECT coalesce(json_agg(json_build_array(t.oid::bigint, n.nspname, t.typname,
                t.typtype,
                (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = t.oid),
                format_type(t.typbasetype, t.typtypmod), t.typnotnull)), '[]')
              FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
              WHERE t.typtype IN ('e', 'd') AND t.oid NOT IN (SELECT objid FROM ext)),
  'triggers', (SELECT coalesce(json_agg(json_build_array(tg.tgrelid::bigint, tg.tgname,
                pg_get_triggerdef(tg.oid), tg.tgenabled)), '[]')
              FROM pg_trigger tg WHERE NOT tg.tgisinternal
                AND tg.tgrelid IN (SELECT oid FROM rel)),
  'views', (SELECT coalesce(json_agg(json_build_array(oid::bigint, pg_get_viewdef(oid))), '[]')
              FROM rel WHERE relkind IN ('v', 'm')),
  'functions', (SELECT coalesce(json_agg(json_build_array(n.nspname,
                p.oid::regprocedure::text, p.prokind, md5(coalesce(p.prosrc, '')),
                format_type(p.prorettype, NULL))), '[]')
              FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
              WHERE p.oid NOT IN (SELECT objid FROM ext))
)
"""

_RELKINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "f": "foreign table",
}
_CONSTRAINT_KINDS = {
    "p": "primary key",
    "u": "unique constraint",
    "f": "foreign key",
    "c": "check constraint",
    "x": "exclusion constraint",
    "t": "constraint trigger",
    "n": "not-null constraint",
}


@dataclass
class Column:
    """What the seeder needs to know about a column."""

    name: str
    type: str
    not_null: bool
    has_default: bool
    #: pg_type.typcategory of the (base) type: N numeric, S string, B boolean, D date/time ...
    category: str
    #: The base type's name (``int4``, ``varchar``, ``uuid``; the enum's own name for enums).
    base: str
    typmod: int
    enum_labels: tuple[str, ...] = ()
    generated: bool = False


@dataclass
class Table:
    """A table of the snapshot, with its keys, for seeding and fingerprints."""

    oid: int
    schema: str
    name: str
    filenode: int
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    unique: list[tuple[str, ...]] = field(default_factory=list)
    #: (columns, referenced table key, referenced columns)
    foreign_keys: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Display name: ``orders``, or ``billing.orders`` outside ``public``."""
        return _qualified(self.schema, self.name)

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)


@dataclass
class Snapshot:
    """A comparable picture of the user schema, plus the tables for the seeder."""

    #: (kind, name) → description; what a schema diff compares.
    objects: dict[tuple[str, str], str]
    tables: dict[str, Table]
    #: Indexes with ``indisvalid = false`` (a failed concurrent build leaves them behind).
    invalid_indexes: list[str]


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an md5 of the ordered rows over a fixed list of columns."""

    columns: tuple[str, ...]
    rows: int
    digest: str


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def take_snapshot(
    connection: psycopg.Connection[Any], exclude: Iterable[tuple[str, str]] = ()
) -> Snapshot:
    """The user schema as seen by ``connection`` (``exclude``: (schema, table), e.g. the version
    table, whose own index and constraint are excluded with it)."""
    row = connection.execute(_SNAPSHOT_SQL).fetchone()
    assert row is not None
    data = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return _build(data, set(exclude))


def take_inspector_snapshot(connection: Any, exclude: Iterable[str] = ()) -> Snapshot:
    """The schema as SQLAlchemy's inspector reports it (SQLite): tables, columns, indexes and
    the constraints the dialect reflects. ``exclude``: table names (the version table).

    No oids, relfilenodes or validity: ``tables`` is left empty (the seeder and the rewrite
    detector need pg_catalog).
    """
    from sqlalchemy import inspect

    inspector = inspect(connection)
    skip = set(exclude)
    objects: dict[tuple[str, str], str] = {}

    def cols(names: Iterable[Any]) -> str:
        return ", ".join(str(n) for n in names)

    for table in sorted(inspector.get_table_names()):
        if table in skip or table.startswith("sqlite_"):
            continue
        objects[("table", table)] = "present"
        for column in inspector.get_columns(table):
            description = str(column["type"]) + (
                "" if column.get("nullable", True) else " NOT NULL"
            )
            if column.get("default") is not None:
                description += f" DEFAULT {column['default']}"
            objects[("column", f"{table}.{column['name']}")] = description
        primary = inspector.get_pk_constraint(table)
        if primary and primary.get("constrained_columns"):
            name = primary.get("name") or "(" + cols(primary["constrained_columns"]) + ")"
            objects[("primary key", f"{table}.{name}")] = (
                f"PRIMARY KEY ({cols(primary['constrained_columns'])})"
            )
        for index in inspector.get_indexes(table):
            unique = "UNIQUE " if index.get("unique") else ""
            expressions = index.get("expressions") or index.get("column_names") or []
            objects[("index", str(index["name"]))] = (
                f"CREATE {unique}INDEX {index['name']} ON {table} ({cols(expressions)})"
            )
        for unique_constraint in inspector.get_unique_constraints(table):
            columns = cols(unique_constraint["column_names"])
            name = unique_constraint.get("name") or f"({columns})"
            objects[("unique constraint", f"{table}.{name}")] = f"UNIQUE ({columns})"
        for foreign in inspector.get_foreign_keys(table):
            columns = cols(foreign["constrained_columns"])
            name = foreign.get("name") or f"({columns})"
            target = foreign["referred_table"]
            if foreign.get("referred_schema"):
                target = f"{foreign['referred_schema']}.{target}"
            options = "".join(
                f" {key.upper()} {value}"
                for key, value in sorted(foreign.get("options", {}).items())
            )
            objects[("foreign key", f"{table}.{name}")] = (
                f"FOREIGN KEY ({columns}) REFERENCES {target}"
                f"({cols(foreign['referred_columns'])}){options}"
            )
        try:
            checks = inspector.get_check_constraints(table)
        except NotImplementedError:
            checks = []
        for check in checks:
            text = " ".join(str(check["sqltext"]).split())
            name = check.get("name") or f"({text})"
            objects[("check constraint", f"{table}.{name}")] = f"CHECK ({text})"
    for view in sorted(inspector.get_view_names()):
        if view in skip:
            continue
        definition = inspector.get_view_definition(view) or ""
        objects[("view", view)] = " ".join(str(definition).split())
    return Snapshot(objects=objects, tables={}, invalid_indexes=[])


def _build(data: Mapping[str, Any], exclude: set[tuple[str, str]]) -> Snapshot:
    objects: dict[tuple[str, str], str] = {}
    names: dict[int, str] = {}
    tables: dict[str, Table] = {}
    type_names: dict[int, str] = {}
    labels: dict[int, tuple[str, ...]] = {}
    skip: set[int] = set()
    for schema in data["schemas"]:
        objects[("schema", schema)] = "present"
    for oid, schema, name, kind, filenode in data["relations"]:
        if (schema, name) in exclude:
            skip.add(oid)
            continue
        qualified = _qualified(schema, name)
        names[oid] = qualified
        objects[(_RELKINDS[kind], qualified)] = "present"
        if kind in ("r", "p"):
            tables[qualified] = Table(oid=oid, schema=schema, name=name, filenode=filenode)
    by_oid = {t.oid: t for t in tables.values()}
    for oid, schema, name, kind, enum_labels, base, not_null in data["types"]:
        qualified = _qualified(schema, name)
        type_names[oid] = qualified
        if kind == "e":
            labels[oid] = tuple(enum_labels or ())
            objects[("enum", qualified)] = "labels " + ", ".join(enum_labels or ())
        else:
            objects[("domain", qualified)] = base + (" NOT NULL" if not_null else "")
    column_names: dict[tuple[int, int], str] = {}
    for (
        relid, name, type_, not_null, default, identity, generated, num,
        category, _typtype, typid, baseid, typmod, base,
    ) in data["columns"]:  # fmt: skip
        if relid in skip:
            continue
        column_names[(relid, num)] = name
        description = type_ + (" NOT NULL" if not_null else "")
        if identity:
            description += " GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT")
            description += " AS IDENTITY"
        if generated:
            description += f" GENERATED ALWAYS AS ({default}) STORED"
        elif default is not None:
            description += f" DEFAULT {default}"
        objects[("column", f"{names[relid]}.{name}")] = description
        table = by_oid.get(relid)
        if table is not None:
            table.columns.append(
                Column(
                    name=name,
                    type=type_,
                    not_null=bool(not_null),
                    has_default=default is not None or bool(identity),
                    category=category,
                    base=base,
                    typmod=int(typmod),
                    enum_labels=labels.get(baseid, labels.get(typid, ())),
                    generated=bool(generated),
                )
            )
    invalid: list[str] = []
    for relid, schema, name, definition, valid, _unique, _primary, _keys, _partial in data[
        "indexes"
    ]:
        if relid in skip:
            continue
        qualified = _qualified(schema, name)
        objects[("index", qualified)] = definition + ("" if valid else " INVALID")
        if not valid:
            invalid.append(qualified)
    for relid, typid, name, kind, definition, validated, keys, refid, refkeys in data[
        "constraints"
    ]:
        if relid in skip or kind == "n":  # NOT NULL (PostgreSQL 18+) is part of the column
            continue
        owner = names.get(relid) or type_names.get(typid)
        if owner is None:
            continue
        # pg_get_constraintdef already ends with NOT VALID for such a constraint
        suffix = "" if validated or definition.endswith(" NOT VALID") else " NOT VALID"
        objects[(_CONSTRAINT_KINDS.get(kind, "constraint"), f"{owner}.{name}")] = (
            definition + suffix
        )
        table = by_oid.get(relid)
        if table is None:
            continue
        columns = tuple(column_names.get((relid, k), "?") for k in keys or ())
        if kind == "p":
            table.primary_key = columns
        elif kind == "u":
            table.unique.append(columns)
        elif kind == "c":
            table.checks.append(definition)
        elif kind == "f" and refid in by_oid:
            referenced = tuple(column_names.get((refid, k), "?") for k in refkeys or ())
            table.foreign_keys.append((columns, by_oid[refid].key, referenced))
    for relid, type_, increment, start, minimum, maximum, cycle in data["sequences"]:
        if relid in names:
            objects[("sequence", names[relid])] = (
                f"{type_} INCREMENT {increment} START {start} MINVALUE {minimum} "
                f"MAXVALUE {maximum}{' CYCLE' if cycle else ''}"
            )
    for relid, name, definition, enabled in data["triggers"]:
        if relid in names:
            state = "" if enabled == "O" else f" (enabled={enabled})"
            objects[("trigger", f"{names[relid]}.{name}")] = definition + state
    for relid, definition in data["views"]:
        if relid in names:
            kind = "materialized view" if ("materialized view", names[relid]) in objects else "view"
            objects[(kind, names[relid])] = " ".join(str(definition).split())
    for schema, signature, kind, digest, returns in data["functions"]:
        label = "procedure" if kind == "p" else "function"
        name = signature if schema == "public" or "." in signature else f"{schema}.{signature}"
        objects[(label, name)] = f"returns {returns}, body md5 {digest}"
    return Snapshot(objects=objects, tables=tables, invalid_indexes=sorted(invalid))


def diff_schemas(before: Snapshot, after: Snapshot, *, when: str = "after downgrade") -> list[str]:
    """Sentences for every object that differs between ``before`` and ``after``.

    Dependent objects of a table that is missing or left over (its columns, indexes ...) are
    folded into the table's own line.
    """
    lines: list[str] = []
    extra_tables = {n for (k, n) in after.objects if k == "table"} - {
        n for (k, n) in before.objects if k == "table"
    }
    missing_tables = {n for (k, n) in before.objects if k == "table"} - {
        n for (k, n) in after.objects if k == "table"
    }

    def folded(kind: str, name: str, tables: set[str]) -> bool:
        if kind in ("table", "schema") or "." not in name:
            return False
        owner = name.rsplit(".", 1)[0]
        return owner in tables

    for key in sorted(set(before.objects) | set(after.objects)):
        kind, name = key
        old, new = before.objects.get(key), after.objects.get(key)
        if old == new:
            continue
        if old is None:
            if not folded(kind, name, extra_tables):
                lines.append(f"{kind} {name} still present {when}")
        elif new is None:
            if not folded(kind, name, missing_tables):
                lines.append(f"{kind} {name} missing {when} (it existed before the upgrade)")
        else:
            lines.append(f"{kind} {name} differs {when}: {new} (before the upgrade: {old})")
    return lines


def table_state(
    connection: psycopg.Connection[Any],
) -> tuple[dict[int, tuple[str, int]], list[str]]:
    """Cheap check after an upgrade: {oid: (table, relfilenode)} and INVALID indexes."""
    rows = connection.execute(
        f"""WITH {_USER_NAMESPACES}
        SELECT json_build_object(
          'tables', (SELECT coalesce(json_agg(json_build_array(oid::bigint, nspname, relname,
                     relfilenode::bigint)), '[]') FROM rel WHERE relkind IN ('r', 'm')),
          'invalid', (SELECT coalesce(json_agg(json_build_array(n.nspname, ic.relname)), '[]')
                      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                      JOIN ns n ON n.oid = ic.relnamespace WHERE NOT i.indisvalid))"""
    ).fetchone()
    assert rows is not None
    data = rows[0] if isinstance(rows[0], dict) else json.loads(rows[0])
    tables = {oid: (_qualified(schema, name), node) for oid, schema, name, node in data["tables"]}
    invalid = sorted(_qualified(schema, name) for schema, name in data["invalid"])
    return tables, invalid


def fingerprints(
    connection: psycopg.Connection[Any],
    tables: Iterable[Table],
    columns: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Fingerprint]:
    """Row count and md5 of the ordered rows of each table (over ``columns[table]`` if given,
    else all its columns); tables that cannot be read are left out."""
    result: dict[str, Fingerprint] = {}
    for table in tables:
        names = (columns or {}).get(table.key) or tuple(c.name for c in table.columns)
        if not names:
            continue
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
            "FROM (SELECT {} FROM {}) r"
        ).format(sql.SQL(", ").join(map(sql.Identifier, names)), table.ident)
        try:
            row = connection.execute(query).fetchone()
        except psycopg.Error:
            continue
        if row is not None:
            result[table.key] = Fingerprint(columns=names, rows=int(row[0]), digest=str(row[1]))
    return result
