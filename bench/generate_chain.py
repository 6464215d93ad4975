"""Generate a large, realistic Alembic project for benchmarking alembic-safety.

Why this exists: the linter has to stay fast on real-world histories, which
often hold hundreds or thousands of revisions written by many hands over
years. A benchmark that only uses a handful of toy migrations hides the costs
that matter in practice: importing every revision module, walking the revision
graph, rendering offline SQL, and parsing both Python and SQL. This script
writes a complete, self-contained Alembic project with a linear chain of N
revisions (1000 by default). The chain cycles through the operations found in
real projects, safe and dangerous:

* ``create_table`` with several columns, sometimes with a foreign key
* ``add_column``: nullable, ``NOT NULL`` with a ``server_default``, and
  ``NOT NULL`` without a default (dangerous)
* ``create_index``: plain (dangerous on an existing table) and
  ``postgresql_concurrently=True`` inside ``autocommit_block()``
* ``alter_column`` type changes with ``existing_type``
* ``create_foreign_key`` and ``create_check_constraint``, with and without
  ``postgresql_not_valid=True``, and later ``VALIDATE CONSTRAINT``
* ``batch_alter_table`` blocks
* ``op.execute`` raw SQL: ``UPDATE`` with and without ``WHERE``, and
  ``CREATE INDEX CONCURRENTLY``
* ``drop_column``, and renames of columns and tables

The script keeps a model of the schema as it builds the chain, so every
revision is valid against the schema its predecessors leave. Every revision has
a ``downgrade()`` that undoes its ``upgrade()``. The whole chain can be run up,
down and up again on an empty PostgreSQL database, and it renders offline with
``alembic upgrade base:head --sql``. Output is deterministic for a given
``--seed`` and ``--revisions``.

Usage::

    python bench/generate_chain.py OUT_DIR [--revisions N] [--seed S] [--force]
    cd OUT_DIR && alembic upgrade base:head --sql > /dev/null

Only the standard library is used. The generated project needs alembic and
SQLAlchemy, and a database driver only for online runs.
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REVISIONS = 1000
DEFAULT_SEED = 20240601
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_chain"

# --------------------------------------------------------------------------- schema model


@dataclass(frozen=True)
class SqlType:
    """A column type: the name of a ``sqlalchemy`` type and its arguments."""

    name: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def render(self) -> str:
        if self.name == "String":
            return f"sa.String(length={self.length})"
        if self.name == "Numeric":
            return f"sa.Numeric(precision={self.precision}, scale={self.scale})"
        if self.name == "DateTime":
            return "sa.DateTime(timezone=True)"
        return f"sa.{self.name}()"

    @property
    def family(self) -> str:
        return {
            "Integer": "int",
            "BigInteger": "int",
            "Numeric": "num",
            "String": "str",
            "Text": "str",
            "Boolean": "bool",
            "DateTime": "ts",
        }[self.name]


INTEGER = SqlType("Integer")
BIGINT = SqlType("BigInteger")
TEXT = SqlType("Text")
BOOLEAN = SqlType("Boolean")
TIMESTAMP = SqlType("DateTime")


def string(length: int) -> SqlType:
    return SqlType("String", length=length)


def numeric(precision: int, scale: int = 2) -> SqlType:
    return SqlType("Numeric", precision=precision, scale=scale)


# Column words and the type each one gets, so that generated schemas read like real ones.
COLUMN_WORDS: dict[str, SqlType] = {
    "quantity": INTEGER,
    "priority": INTEGER,
    "score": INTEGER,
    "attempts": INTEGER,
    "position": INTEGER,
    "rating": INTEGER,
    "stock_level": INTEGER,
    "external_id": BIGINT,
    "legacy_id": BIGINT,
    "amount": numeric(12),
    "weight": numeric(10, 3),
    "discount": numeric(8),
    "tax_rate": numeric(6, 4),
    "balance": numeric(14),
    "status": string(32),
    "code": string(64),
    "reference": string(64),
    "region": string(32),
    "currency": string(3),
    "label": string(120),
    "email": string(255),
    "slug": string(120),
    "note": TEXT,
    "description": TEXT,
    "comment": TEXT,
    "is_active": BOOLEAN,
    "is_archived": BOOLEAN,
    "is_flagged": BOOLEAN,
    "shipped_at": TIMESTAMP,
    "cancelled_at": TIMESTAMP,
    "reviewed_at": TIMESTAMP,
}

TABLE_WORDS: tuple[str, ...] = (
    "customer",
    "invoice",
    "shipment",
    "warehouse",
    "supplier",
    "payment",
    "refund",
    "cart",
    "review",
    "category",
    "address",
    "subscription",
    "ticket",
    "employee",
    "department",
    "campaign",
    "voucher",
    "parcel",
    "ledger_entry",
    "audit_event",
    "product_variant",
    "price_list",
    "store",
    "session",
)

SERVER_DEFAULTS: dict[str, str] = {
    "int": "0",
    "num": "0",
    "str": "'unknown'",
    "bool": "false",
    "ts": "now()",
}


def server_default_for(sql_type: SqlType) -> str:
    """A ``server_default`` SQL expression that fits ``sql_type``."""
    if sql_type.length is not None and sql_type.length < len("unknown"):
        return "'n/a'"
    return SERVER_DEFAULTS[sql_type.family]


@dataclass
class Column:
    name: str
    type: SqlType
    nullable: bool = True
    server_default: str | None = None
    # How many indexes and constraints use the column; a used column is never
    # dropped, renamed or retyped, so that downgrades stay exact.
    uses: int = 0

    def render(self) -> str:
        parts = [repr(self.name), self.type.render()]
        if self.server_default is not None:
            parts.append(f"server_default=sa.text({self.server_default!r})")
        parts.append(f"nullable={self.nullable}")
        return f"sa.Column({', '.join(parts)})"


@dataclass
class Constraint:
    """A check constraint (``ref`` is None) or a foreign key to ``ref``."""

    name: str
    column: str
    not_valid: bool
    ref: Table | None = None


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)

    def free_columns(self) -> list[Column]:
        """Columns that no index or constraint uses (the primary key excluded)."""
        return [c for c in self.columns.values() if c.uses == 0 and c.name != "id"]

    def new_column_name(self, word: str) -> str:
        if word not in self.columns:
            return word
        n = 2
        while f"{word}_{n}" in self.columns:
            n += 1
        return f"{word}_{n}"


@dataclass
class Revision:
    message: str
    upgrade: list[str]
    downgrade: list[str]


class Infeasible(Exception):
    """The schema as it stands offers nothing for this kind of operation."""


# --------------------------------------------------------------------------- generator


class ChainGenerator:
    """Build revisions one by one against a model of the schema."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: dict[str, Table] = {}
        self.global_names: set[str] = set()  # tables, indexes and constraints share one namespace
        self.table_counter = 0

    # ----------------------------------------------------------------- helpers

    def unique_name(self, base: str) -> str:
        base = base[:55]
        name = base
        n = 2
        while name in self.global_names:
            name = f"{base}_{n}"
            n += 1
        self.global_names.add(name)
        return name

    def new_table_name(self) -> str:
        self.table_counter += 1
        return self.unique_name(f"{self.rng.choice(TABLE_WORDS)}_{self.table_counter}")

    def pick_table(self, predicate: Callable[[Table], bool] = lambda t: True) -> Table:
        candidates = [t for t in self.tables.values() if predicate(t)]
        if not candidates:
            raise Infeasible
        return self.rng.choice(candidates)

    def pick_column(self, predicate: Callable[[Column], bool]) -> tuple[Table, Column]:
        candidates = [
            (t, c) for t in self.tables.values() for c in t.free_columns() if predicate(c)
        ]
        if not candidates:
            raise Infeasible
        return self.rng.choice(candidates)

    def random_column(self, table: Table) -> Column:
        word = self.rng.choice(sorted(COLUMN_WORDS))
        return Column(table.new_column_name(word), COLUMN_WORDS[word])

    def index_on(self, table: Table, column: Column) -> str:
        column.uses += 1
        return self.unique_name(f"ix_{table.name}_{column.name}")

    # ----------------------------------------------------------------- operations

    def create_table(self) -> Revision:
        table = Table(self.new_table_name())
        table.columns["id"] = Column("id", INTEGER, nullable=False, uses=1)
        for _ in range(self.rng.randint(2, 5)):
            col = self.random_column(table)
            if self.rng.random() < 0.5:
                col.nullable = False
                if self.rng.random() < 0.5:
                    col.server_default = server_default_for(col.type)
            table.columns[col.name] = col
        table.columns["created_at"] = Column(
            "created_at", TIMESTAMP, nullable=False, server_default="now()"
        )
        body = [f"        {c.render()}," for c in table.columns.values()]
        fk_col: Column | None = None
        if self.tables and self.rng.random() < 0.6:
            parent = self.pick_table()
            fk_col = Column(table.new_column_name(f"{parent.name}_id"), INTEGER, nullable=False)
            fk_col.uses = 1
            table.columns[fk_col.name] = fk_col
            fk_name = self.unique_name(f"fk_{table.name}_{fk_col.name}_{parent.name}")
            body.insert(-1, f"        {fk_col.render()},")
            ondelete = ", ondelete='CASCADE'" if self.rng.random() < 0.5 else ""
            body.append(
                f"        sa.ForeignKeyConstraint([{fk_col.name!r}], [{parent.name + '.id'!r}], "
                f"name={fk_name!r}{ondelete}),"
            )
        pk_name = self.unique_name(f"pk_{table.name}")
        body.append(f"        sa.PrimaryKeyConstraint('id', name={pk_name!r}),")
        upgrade = ["    op.create_table(", f"        {table.name!r},", *body, "    )"]
        downgrade = []
        if fk_col is not None:
            # An index on the new table's foreign key: plain, since the table is empty.
            ix = self.index_on(table, fk_col)
            upgrade.append(
                f"    op.create_index({ix!r}, {table.name!r}, [{fk_col.name!r}], unique=False)"
            )
            downgrade.append(f"    op.drop_index({ix!r}, table_name={table.name!r})")
        downgrade.append(f"    op.drop_table({table.name!r})")
        self.tables[table.name] = table
        return Revision(f"create {table.name} table", upgrade, downgrade)

    def _add_column(self, nullable: bool, with_default: bool) -> Revision:
        table = self.pick_table()
        col = self.random_column(table)
        col.nullable = nullable
        if with_default:
            col.server_default = server_default_for(col.type)
        table.columns[col.name] = col
        return Revision(
            f"add {col.name} to {table.name}",
            [f"    op.add_column({table.name!r}, {col.render()})"],
            [f"    op.drop_column({table.name!r}, {col.name!r})"],
        )

    def add_column_nullable(self) -> Revision:
        return self._add_column(nullable=True, with_default=False)

    def add_column_server_default(self) -> Revision:
        return self._add_column(nullable=False, with_default=True)

    def add_column_not_null(self) -> Revision:
        return self._add_column(nullable=False, with_default=False)

    def create_index(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family in {"int", "str", "ts", "num"})
        ix = self.index_on(table, col)
        unique = self.rng.random() < 0.2
        return Revision(
            f"index {table.name}.{col.name}",
            [f"    op.create_index({ix!r}, {table.name!r}, [{col.name!r}], unique={unique})"],
            [f"    op.drop_index({ix!r}, table_name={table.name!r})"],
        )

    def create_index_concurrently(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family in {"int", "str", "ts", "num"})
        ix = self.index_on(table, col)
        return Revision(
            f"index {table.name}.{col.name} concurrently",
            [
                "    with op.get_context().autocommit_block():",
                "        op.create_index(",
                f"            {ix!r},",
                f"            {table.name!r},",
                f"            [{col.name!r}],",
                "            unique=False,",
                "            postgresql_concurrently=True,",
                "        )",
            ],
            [
                "    with op.get_context().autocommit_block():",
                "        op.drop_index(",
                f"            {ix!r},",
                f"            table_name={table.name!r},",
                "            postgresql_concurrently=True,",
                "        )",
            ],
        )

    def _widened(self, col: Column) -> SqlType:
        old = col.type
        if old == INTEGER:
            return BIGINT
        if old.name == "String":
            assert old.length is not None
            # Not to TEXT under a default: PostgreSQL keeps the old cast in the default
            # expression, and a downgrade that re-adds the column would not match it.
            if col.server_default is None and self.rng.random() < 0.3:
                return TEXT
            return string(old.length * 2 if old.length < 200 else old.length + 100)
        if old.name == "Numeric":
            assert old.precision is not None
            assert old.scale is not None
            return numeric(old.precision + 4, old.scale)
        raise Infeasible

    def alter_column_type(self) -> Revision:
        table, col = self.pick_column(
            lambda c: c.type == INTEGER or c.type.name in {"String", "Numeric"}
        )
        old, new = col.type, self._widened(col)
        col.type = new

        def alter(frm: SqlType, to: SqlType) -> list[str]:
            return [
                "    op.alter_column(",
                f"        {table.name!r},",
                f"        {col.name!r},",
                f"        existing_type={frm.render()},",
                f"        type_={to.render()},",
                f"        existing_nullable={col.nullable},",
                "    )",
            ]

        return Revision(f"change type of {table.name}.{col.name}", alter(old, new), alter(new, old))

    def create_foreign_key(self) -> Revision:
        if len(self.tables) < 2:
            raise Infeasible
        child = self.pick_table()
        parent = self.pick_table(lambda t: t is not child)
        col = Column(child.new_column_name(f"{parent.name}_id"), INTEGER, uses=1)
        child.columns[col.name] = col
        name = self.unique_name(f"fk_{child.name}_{col.name}_{parent.name}")
        not_valid = self.rng.random() < 0.5
        child.constraints[name] = Constraint(name, col.name, not_valid, parent)
        extra = ["        postgresql_not_valid=True,"] if not_valid else []
        return Revision(
            f"link {child.name} to {parent.name}",
            [
                f"    op.add_column({child.name!r}, {col.render()})",
                "    op.create_foreign_key(",
                f"        {name!r},",
                f"        {child.name!r},",
                f"        {parent.name!r},",
                f"        [{col.name!r}],",
                "        ['id'],",
                *extra,
                "    )",
            ],
            [
                f"    op.drop_constraint({name!r}, {child.name!r}, type_='foreignkey')",
                f"    op.drop_column({child.name!r}, {col.name!r})",
            ],
        )

    def create_check_constraint(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family in {"int", "num"})
        col.uses += 1
        name = self.unique_name(f"ck_{table.name}_{col.name}_non_negative")
        not_valid = self.rng.random() < 0.5
        table.constraints[name] = Constraint(name, col.name, not_valid)
        extra = ["        postgresql_not_valid=True,"] if not_valid else []
        return Revision(
            f"check {table.name}.{col.name} is not negative",
            [
                "    op.create_check_constraint(",
                f"        {name!r},",
                f"        {table.name!r},",
                f"        {col.name + ' >= 0'!r},",
                *extra,
                "    )",
            ],
            [f"    op.drop_constraint({name!r}, {table.name!r}, type_='check')"],
        )

    def validate_constraint(self) -> Revision:
        pending = [
            (t, c) for t in self.tables.values() for c in t.constraints.values() if c.not_valid
        ]
        if not pending:
            raise Infeasible
        table, con = self.rng.choice(pending)
        con.not_valid = False
        # PostgreSQL cannot un-validate: the downgrade re-creates the constraint NOT VALID.
        if con.ref is None:
            recreate = [
                "    op.create_check_constraint(",
                f"        {con.name!r},",
                f"        {table.name!r},",
                f"        {con.column + ' >= 0'!r},",
                "        postgresql_not_valid=True,",
                "    )",
            ]
            kind = "check"
        else:
            recreate = [
                "    op.create_foreign_key(",
                f"        {con.name!r},",
                f"        {table.name!r},",
                f"        {con.ref.name!r},",
                f"        [{con.column!r}],",
                "        ['id'],",
                "        postgresql_not_valid=True,",
                "    )",
            ]
            kind = "foreignkey"
        return Revision(
            f"validate {con.name}",
            [f'    op.execute("ALTER TABLE {table.name} VALIDATE CONSTRAINT {con.name}")'],
            [f"    op.drop_constraint({con.name!r}, {table.name!r}, type_={kind!r})", *recreate],
        )

    def batch_alter_table(self) -> Revision:
        table = self.pick_table()
        col = self.random_column(table)
        table.columns[col.name] = col
        up = [
            f"    with op.batch_alter_table({table.name!r}, schema=None) as batch_op:",
            f"        batch_op.add_column({col.render()})",
        ]
        down_inner = [f"        batch_op.drop_column({col.name!r})"]
        if col.type.family in {"int", "str", "ts", "num"} and self.rng.random() < 0.6:
            ix = self.index_on(table, col)
            up.append(f"        batch_op.create_index({ix!r}, [{col.name!r}], unique=False)")
            down_inner.insert(0, f"        batch_op.drop_index({ix!r})")
        others = [
            c
            for c in table.free_columns()
            if c is not col and not c.nullable and c.name != "created_at"
        ]
        if others and self.rng.random() < 0.5:
            other = self.rng.choice(others)
            other.nullable = True
            alter = (
                f"        batch_op.alter_column({other.name!r}, "
                f"existing_type={other.type.render()}, nullable={{}})"
            )
            up.append(alter.format(True))
            down_inner.insert(0, alter.format(False))
        down = [
            f"    with op.batch_alter_table({table.name!r}, schema=None) as batch_op:",
            *down_inner,
        ]
        return Revision(f"batch changes to {table.name}", up, down)

    def execute_update_where(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family == "str" and c.nullable)
        values = ["pending", "legacy", "n/a", "imported"]
        if col.type.length is not None:
            values = [v for v in values if len(v) <= col.type.length] or ["?"]
        value = self.rng.choice(values)
        return Revision(
            f"backfill {table.name}.{col.name}",
            [
                f"    op.execute(\"UPDATE {table.name} SET {col.name} = '{value}' "
                f'WHERE {col.name} IS NULL")'
            ],
            [
                f'    op.execute("UPDATE {table.name} SET {col.name} = NULL '
                f"WHERE {col.name} = '{value}'\")"
            ],
        )

    def execute_update_all(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family == "int")
        step = self.rng.choice([1, 10, 100, 1000])
        return Revision(
            f"shift {table.name}.{col.name}",
            [f'    op.execute("UPDATE {table.name} SET {col.name} = {col.name} + {step}")'],
            [f'    op.execute("UPDATE {table.name} SET {col.name} = {col.name} - {step}")'],
        )

    def execute_create_index_concurrently(self) -> Revision:
        table, col = self.pick_column(lambda c: c.type.family in {"int", "str", "ts", "num"})
        ix = self.index_on(table, col)
        return Revision(
            f"raw concurrent index on {table.name}.{col.name}",
            [
                "    with op.get_context().autocommit_block():",
                "        op.execute(",
                f'            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {ix} "',
                f'            "ON {table.name} ({col.name})"',
                "        )",
            ],
            [
                "    with op.get_context().autocommit_block():",
                f'        op.execute("DROP INDEX CONCURRENTLY IF EXISTS {ix}")',
            ],
        )

    def drop_column(self) -> Revision:
        table, col = self.pick_column(lambda c: c.name != "created_at")
        del table.columns[col.name]
        return Revision(
            f"drop {table.name}.{col.name}",
            [f"    op.drop_column({table.name!r}, {col.name!r})"],
            [f"    op.add_column({table.name!r}, {col.render()})"],
        )

    def rename(self) -> Revision:
        if self.rng.random() < 0.6:
            table, col = self.pick_column(lambda c: c.name != "created_at")
            old = col.name
            # Columns still hold ``old`` here, so the new name always differs from it.
            words = sorted(w for w, t in COLUMN_WORDS.items() if t.family == col.type.family)
            new = table.new_column_name(self.rng.choice(words or sorted(COLUMN_WORDS)))
            del table.columns[old]
            col.name = new
            table.columns[new] = col
            return Revision(
                f"rename {table.name}.{old} to {col.name}",
                [f"    op.alter_column({table.name!r}, {old!r}, new_column_name={col.name!r})"],
                [f"    op.alter_column({table.name!r}, {col.name!r}, new_column_name={old!r})"],
            )
        table = self.pick_table()
        old = table.name
        table.name = self.new_table_name()
        del self.tables[old]
        self.tables[table.name] = table
        return Revision(
            f"rename table {old} to {table.name}",
            [f"    op.rename_table({old!r}, {table.name!r})"],
            [f"    op.rename_table({table.name!r}, {old!r})"],
        )

    # ----------------------------------------------------------------- driver

    def operations(self) -> list[Callable[[], Revision]]:
        return [
            self.create_table,
            self.add_column_nullable,
            self.create_index,
            self.add_column_server_default,
            self.alter_column_type,
            self.create_index_concurrently,
            self.create_foreign_key,
            self.add_column_not_null,
            self.create_check_constraint,
            self.batch_alter_table,
            self.execute_update_where,
            self.validate_constraint,
            self.execute_update_all,
            self.execute_create_index_concurrently,
            self.drop_column,
            self.rename,
        ]

    def revisions(self, count: int) -> list[Revision]:
        """Cycle through every kind of operation, in a fresh shuffled order each round."""
        result: list[Revision] = []
        queue: list[Callable[[], Revision]] = []
        while len(result) < count:
            if not self.tables:
                result.append(self.create_table())
                continue
            if not queue:
                queue = self.operations()
                self.rng.shuffle(queue)
            op = queue.pop()
            try:
                result.append(op())
            except Infeasible:
                result.append(
                    self.create_table() if self.rng.random() < 0.5 else self.add_column_nullable()
                )
        return result


# --------------------------------------------------------------------------- project files

ALEMBIC_INI = f"""\
# Generated by bench/generate_chain.py: a long linear Alembic history for benchmarks.

[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {DATABASE_URL}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = WARNING
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

ENV_PY = f'''\
"""Alembic environment of the generated benchmark chain (online and offline modes)."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None

DEFAULT_URL = "{DATABASE_URL}"


def run_migrations_offline() -> None:
    """Emit the migrations as SQL (``alembic upgrade base:head --sql``): no database needed."""
    url = config.get_main_option("sqlalchemy.url") or DEFAULT_URL
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={{"paramstyle": "named"}},
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against the database at ``sqlalchemy.url``."""
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {{}}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_PY_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: Union[str, Sequence[str], None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade schema."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    ${downgrades if downgrades else "pass"}
'''

REVISION_TEMPLATE = '''\
"""{message}

Revision ID: {revision}
Revises: {down_revision_header}
Create Date: {create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = {revision!r}
down_revision: Union[str, Sequence[str], None] = {down_revision!r}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
{upgrade}


def downgrade() -> None:
    """Downgrade schema."""
{downgrade}
'''

_SLUG_RE = re.compile(r"\w+")


def slugify(message: str, limit: int = 40) -> str:
    """Alembic's own file-name slug: word characters joined by ``_``, cut at a word."""
    slug = "_".join(_SLUG_RE.findall(message)).lower()
    if len(slug) > limit:
        slug = slug[:limit].rsplit("_", 1)[0] + "_"
    return slug


def render_revision(
    rev: Revision, revision_id: str, down_revision: str | None, created: datetime.datetime
) -> str:
    return REVISION_TEMPLATE.format(
        message=rev.message,
        revision=revision_id,
        down_revision=down_revision,
        down_revision_header=down_revision or "",
        create_date=created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        upgrade="\n".join(rev.upgrade),
        downgrade="\n".join(rev.downgrade),
    )


def generate(out_dir: Path, count: int, seed: int = DEFAULT_SEED, force: bool = False) -> Path:
    """Write the project into ``out_dir``; return its versions directory."""
    if count < 1:
        raise ValueError("the chain needs at least one revision")
    migrations = out_dir / "migrations"
    versions = migrations / "versions"
    if versions.exists() and any(versions.iterdir()):
        if not force:
            raise FileExistsError(f"{versions} is not empty (pass --force to replace it)")
        shutil.rmtree(versions)
    versions.mkdir(parents=True, exist_ok=True)
    (out_dir / "alembic.ini").write_text(ALEMBIC_INI, encoding="utf-8")
    (migrations / "env.py").write_text(ENV_PY, encoding="utf-8")
    (migrations / "script.py.mako").write_text(SCRIPT_PY_MAKO, encoding="utf-8")
    (migrations / "README").write_text(
        f"Generated benchmark chain: {count} revisions, seed {seed}.\n", encoding="utf-8"
    )

    generator = ChainGenerator(seed)
    ids: set[str] = set()
    created = datetime.datetime(2021, 1, 4, 9, 0, 0)
    down: str | None = None
    for rev in generator.revisions(count):
        revision_id = f"{generator.rng.getrandbits(48):012x}"
        while revision_id in ids:
            revision_id = f"{generator.rng.getrandbits(48):012x}"
        ids.add(revision_id)
        created += datetime.timedelta(
            hours=generator.rng.randint(2, 72),
            minutes=generator.rng.randint(0, 59),
            seconds=generator.rng.randint(0, 59),
            microseconds=generator.rng.randint(0, 999_999),
        )
        path = versions / f"{revision_id}_{slugify(rev.message)}.py"
        path.write_text(render_revision(rev, revision_id, down, created), encoding="utf-8")
        down = revision_id
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="directory to write the Alembic project into")
    parser.add_argument(
        "--revisions",
        type=int,
        default=DEFAULT_REVISIONS,
        help=f"length of the chain (default {DEFAULT_REVISIONS})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace the versions/ of an earlier run"
    )
    args = parser.parse_args(argv)
    try:
        versions = generate(args.out_dir, args.revisions, args.seed, args.force)
    except (FileExistsError, ValueError) as exc:
        parser.error(str(exc))
    print(f"wrote {args.revisions} revisions to {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
