"""The shadow-table strategy (``rewrite_strategy = "shadow-table"``): ops in, code out; and the
real thing on PostgreSQL.

The end-to-end test runs the real ``alembic revision --autogenerate`` on a scratch database with
rows, then each generated revision with the real ``alembic`` while another connection writes,
and reads what happened from the catalog: column types, rows, the sequence, ``relfilenode``
(the live table is never rewritten in place) and, through an event hook in env.py that reads
``pg_locks`` after every statement of the migrating connection, which revision held ACCESS
EXCLUSIVE on the table. Then the linter reads the files and alembic-safety's own dry run
(seed, up, down, schema compared, up) runs them on a throwaway database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alembic
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.config import Config
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from conftest import ALEMBIC, MakeProject, run_alembic, run_cli, run_main
from psycopg import sql

from alembic_safety.config import load_settings
from alembic_safety.errors import UsageError
from alembic_safety.rewrite import process_revision_directives
from alembic_safety.rewrite.settings import RewriteSettings
from alembic_safety.rewrite.shadow_table import fit_name

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SHADOW = RewriteSettings(strategy="shadow-table", backfill_batch_size=2)


def _reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


# -- unit: settings ----------------------------------------------------------------------------


def test_strategy_setting_defaults_to_shadow_column_and_accepts_shadow_table() -> None:
    assert RewriteSettings().strategy == "shadow-column"
    assert RewriteSettings.from_mapping({"rewrite_strategy": "shadow-table"}).strategy == (
        "shadow-table"
    )
    assert RewriteSettings.from_mapping({"rewrite-strategy": "Shadow_Table"}).strategy == (
        "shadow-table"
    )
    with pytest.raises(UsageError, match="rewrite_strategy must be one of shadow-column, shadow"):
        RewriteSettings.from_mapping({"rewrite_strategy": "shadow-tables"})


def test_strategy_is_read_from_pyproject_or_ini_and_validated_by_the_loader(
    make_project: MakeProject,
) -> None:
    project = make_project()
    (project.root / "pyproject.toml").write_text(
        '[tool.alembic_safety]\nrewrite_strategy = "shadow-table"\n'
    )
    config = Config(str(project.ini))
    assert load_settings(config).rewrite_strategy == "shadow-table"
    assert RewriteSettings.from_config(config).strategy == "shadow-table"
    ini = make_project({"rewrite_strategy": "shadow-table"}, subdir="ini")
    assert RewriteSettings.from_config(Config(str(ini.ini))).strategy == "shadow-table"
    for where, value in [("ini", "copy-everything"), ("pyproject", "shadow table!")]:
        bad = make_project(
            {"rewrite_strategy": value} if where == "ini" else None, subdir=f"bad-{where}"
        )
        if where == "pyproject":
            (bad.root / "pyproject.toml").write_text(
                f'[tool.alembic_safety]\nrewrite_strategy = "{value}"\n'
            )
        result = run_main("check", cwd=bad.root)
        assert result.code == 2
        [line] = result.err.strip().splitlines()
        assert "rewrite_strategy" in line
        assert value in line
        assert "shadow-column, shadow-table" in line
        assert "Traceback" not in result.err


# -- unit: ops in, code out --------------------------------------------------------------------


def _metadata(schema: str | None = None, table: str = "orders") -> sa.MetaData:
    metadata = sa.MetaData(schema=schema)
    sa.Table(
        table,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("total", sa.BigInteger),
        sa.Column("note", sa.String(50)),
    )
    return metadata


def _type_change(
    table: str, column: str, old: Any, new: Any, schema: str | None = None
) -> tuple[ops.AlterColumnOp, ops.AlterColumnOp]:
    up = ops.AlterColumnOp(
        table, column, schema=schema, modify_type=new, existing_type=old, existing_nullable=True
    )
    down = ops.AlterColumnOp(
        table, column, schema=schema, modify_type=old, existing_type=new, existing_nullable=True
    )
    return up, down


def _generate(
    metadata: sa.MetaData,
    changes: list[tuple[ops.AlterColumnOp, ops.AlterColumnOp]],
    settings: RewriteSettings = SHADOW,
) -> list[ops.MigrationScript]:
    table, schema = changes[0][0].table_name, changes[0][0].schema
    script = ops.MigrationScript(
        rev_id="aaaa00000001",
        message="bigint orders",
        upgrade_ops=ops.UpgradeOps(
            [ops.ModifyTableOps(table, [up for up, _ in changes], schema=schema)]
        ),
        downgrade_ops=ops.DowngradeOps(
            [ops.ModifyTableOps(table, [down for _, down in reversed(changes)], schema=schema)]
        ),
    )
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": metadata}
    )
    directives = [script]
    process_revision_directives(context, ("head",), directives, settings)
    return directives


def _code(container: ops.OpContainer) -> str:
    return render_python_code(container)  # type: ignore[arg-type]


def test_type_changes_of_one_table_become_expand_migrate_swap_and_drop() -> None:
    directives = _generate(
        _metadata(),
        [
            _type_change("orders", "id", sa.Integer(), sa.BigInteger()),
            _type_change("orders", "total", sa.Integer(), sa.BigInteger()),
        ],
    )
    assert len(directives) == 4
    expand, migrate, contract, drop = directives
    assert [s.head for s in directives[1:]] == [s.rev_id for s in directives[:-1]]
    assert [str(s.message).splitlines()[0] for s in directives] == [
        "bigint orders",
        "bigint orders (migrate)",
        "bigint orders (contract)",
        "bigint orders (drop)",
    ]
    phases = [re.search(r"^Phase: (\w+)$", str(s.message), re.M) for s in directives]
    assert [m.group(1) if m else None for m in phases] == [
        "expand",
        "migrate",
        "contract",
        "contract",
    ]

    up, down = _code(expand.upgrade_ops), _code(expand.downgrade_ops)
    assert "op.alter_column" not in up + down  # nothing rewrites orders in place
    ordered = [
        "CREATE TABLE orders_new (LIKE orders INCLUDING ALL)",
        "ALTER TABLE orders_new ALTER COLUMN id TYPE BIGINT USING CAST(id AS BIGINT), "
        "ALTER COLUMN total TYPE BIGINT USING CAST(total AS BIGINT)",
        "ADD CONSTRAINT %I %s NOT VALID",
        "CREATE FUNCTION orders_new_sync() RETURNS trigger",
        "CREATE TRIGGER orders_new_sync AFTER INSERT OR UPDATE OR DELETE ON orders",
    ]
    positions = [up.index(text) for text in ordered]
    assert positions == sorted(positions)
    assert "ON CONFLICT (id) %s" in up
    assert "DO UPDATE SET" in up
    assert down.index("DROP TRIGGER orders_new_sync ON orders") < down.index(
        "DROP FUNCTION orders_new_sync()"
    )
    assert "DROP TABLE orders_new" in down
    assert "Risk Level: LOW" in str(expand.message)

    copy = _code(migrate.upgrade_ops)
    assert "with op.get_context().autocommit_block():" in copy
    assert "WHERE id > :last ORDER BY id LIMIT 2 FOR KEY SHARE" in copy
    assert "ON CONFLICT (id) DO NOTHING" in copy
    assert "OFFSET" not in copy
    assert "log.info(" in copy
    assert "raise RuntimeError('copy of orders into orders_new incomplete" in copy
    undo = _code(migrate.downgrade_ops)  # the copy stays; the validations are undone
    assert "DROP CONSTRAINT %I" in undo
    assert "ADD CONSTRAINT %I %s NOT VALID" in undo
    assert "DELETE" not in undo

    swap = _code(contract.upgrade_ops)
    ordered = [
        "SET lock_timeout = '5s'",
        "LOCK TABLE orders, orders_new IN ACCESS EXCLUSIVE MODE",
        "RAISE EXCEPTION 'alembic-safety: orders has % rows but orders_new has %",
        "DROP TRIGGER orders_new_sync ON orders",
        "ALTER TABLE orders RENAME TO orders_old",
        "ALTER TABLE orders_new RENAME TO orders",
        "ALTER INDEX %I.%I RENAME TO %I",
        "OWNED BY orders.%I",
        "CREATE TRIGGER orders_old_sync",
    ]
    positions = [swap.index(text) for text in ordered]
    assert positions == sorted(positions)
    back = _code(contract.downgrade_ops)
    assert "LOCK TABLE orders, orders_old IN ACCESS EXCLUSIVE MODE" in back
    assert back.index("ALTER TABLE orders RENAME TO orders_new") < back.index(
        "ALTER TABLE orders_old RENAME TO orders"
    )
    assert "CREATE TRIGGER orders_new_sync" in back
    assert "Escalation: swaps orders_new in for orders under ACCESS EXCLUSIVE" in str(
        contract.message
    )
    assert "Rollback: included" in str(contract.message)

    assert "DROP TABLE orders_old" in _code(drop.upgrade_ops)
    rebuild = _code(drop.downgrade_ops)
    assert "CREATE TABLE orders_old (LIKE orders INCLUDING ALL)" in rebuild
    assert "ALTER COLUMN id TYPE INTEGER USING CAST(id AS INTEGER), ALTER" in rebuild
    assert "INSERT INTO orders_old (" in rebuild
    assert "Escalation: drops orders_old" in str(drop.message)


def test_default_strategy_keeps_the_shadow_column() -> None:
    directives = _generate(
        _metadata(),
        [_type_change("orders", "total", sa.Integer(), sa.BigInteger())],
        RewriteSettings(),
    )
    code = _code(directives[0].upgrade_ops)
    assert "total_new" in code
    assert "orders_new" not in code


def test_catalog_only_changes_stay_as_they_are() -> None:
    directives = _generate(
        _metadata(), [_type_change("orders", "note", sa.String(20), sa.String(50))]
    )
    assert len(directives) == 1
    assert "op.alter_column('orders', 'note'" in _code(directives[0].upgrade_ops)
    assert "orders_new" not in _code(directives[0].upgrade_ops)


def test_referencing_foreign_keys_get_a_todo_and_an_escalation() -> None:
    metadata = _metadata()
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.ForeignKey("orders.id")),
    )
    directives = _generate(metadata, [_type_change("orders", "id", sa.Integer(), sa.BigInteger())])
    contract = directives[2]
    assert "# TODO(alembic-safety): foreign keys of items reference orders." in _code(
        contract.upgrade_ops
    )
    assert "Escalation: foreign keys of items reference orders" in str(contract.message)
    assert "foreign keys of" not in str(directives[0].message)


def test_other_changes_to_the_table_are_escalated_on_the_swap() -> None:
    up, down = _type_change("orders", "total", sa.Integer(), sa.BigInteger())
    script = ops.MigrationScript(
        rev_id="aaaa00000002",
        message="mixed",
        upgrade_ops=ops.UpgradeOps(
            [ops.ModifyTableOps("orders", [ops.AddColumnOp("orders", sa.Column("x", sa.Text)), up])]
        ),
        downgrade_ops=ops.DowngradeOps(
            [ops.ModifyTableOps("orders", [down, ops.DropColumnOp("orders", "x")])]
        ),
    )
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": _metadata()}
    )
    directives = [script]
    process_revision_directives(context, ("head",), directives, SHADOW)
    code = _code(script.upgrade_ops)
    assert code.index("op.add_column('orders'") < code.index("CREATE TABLE orders_new (LIKE")
    message = str(directives[2].message)
    assert "Escalation: the same revision changes orders in other ways too" in message


def test_two_tables_swap_in_one_lock_statement() -> None:
    metadata = _metadata()
    sa.Table("invoices", metadata, sa.Column("id", sa.BigInteger, primary_key=True))
    changes = {
        name: _type_change(name, "id", sa.Integer(), sa.BigInteger())
        for name in ("orders", "invoices")
    }
    script = ops.MigrationScript(
        rev_id="aaaa00000003",
        message="bigint ids",
        upgrade_ops=ops.UpgradeOps([ops.ModifyTableOps(n, [c[0]]) for n, c in changes.items()]),
        downgrade_ops=ops.DowngradeOps([ops.ModifyTableOps(n, [c[1]]) for n, c in changes.items()]),
    )
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": metadata}
    )
    directives = [script]
    process_revision_directives(context, ("head",), directives, SHADOW)
    assert len(directives) == 4
    swap = _code(directives[2].upgrade_ops)
    assert swap.count("LOCK TABLE") == 1
    assert "LOCK TABLE orders, orders_new, invoices, invoices_new IN ACCESS EXCLUSIVE MODE" in swap
    assert "ALTER TABLE invoices RENAME TO invoices_old" in swap
    assert _code(directives[1].upgrade_ops).count("INSERT INTO ") == 2
    assert "DROP TABLE invoices_old" in _code(directives[3].upgrade_ops)


def test_names_are_quoted_schema_qualified_and_fit_63_bytes() -> None:
    long_name = "Ä" + "x" * 61  # 63 bytes: a suffix must cut the name, not be cut off
    directives = _generate(
        _metadata("Sales", long_name),
        [_type_change(long_name, "total", sa.Integer(), sa.BigInteger(), schema="Sales")],
    )
    shadow, old, sync = (fit_name(long_name, s) for s in ("_new", "_old", "_new_sync"))
    assert all(len(name.encode()) <= 63 for name in (shadow, old, sync))
    assert len({shadow, old, sync, long_name}) == 4
    assert shadow.endswith("_new")
    assert sync.endswith("_new_sync")
    up = _code(directives[0].upgrade_ops)
    assert f'CREATE TABLE "Sales"."{shadow}" (LIKE "Sales"."{long_name}" INCLUDING ALL)' in up
    statements = " ".join(
        str(o.sqltext) for o in directives[0].upgrade_ops.ops if isinstance(o, ops.ExecuteSQLOp)
    )
    assert f'conrelid = \'"Sales"."{long_name}"\'::regclass' in statements
    assert f'EXECUTE FUNCTION "Sales"."{sync}"()' in up
    swap = _code(directives[2].upgrade_ops)
    assert f'ALTER TABLE "Sales"."{long_name}" RENAME TO "{old}"' in swap


def test_a_table_without_a_single_column_key_keeps_the_todo() -> None:
    metadata = sa.MetaData()
    sa.Table(
        "pairs",
        metadata,
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
        sa.Column("v", sa.Integer),
    )
    directives = _generate(metadata, [_type_change("pairs", "v", sa.Integer(), sa.BigInteger())])
    code = _code(directives[0].upgrade_ops)
    assert "TODO(alembic-safety): pairs.v changes type" in code
    assert "pairs_new" not in code


# -- real PostgreSQL: autogenerate, run, write concurrently, swap, roll back -------------------

MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("email", sa.String(100)))
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
                  sa.Column("total", sa.Integer), sa.Column("note", sa.String(50)),
                  sa.Index("ix_orders_total", "total"))
"""

MODELS_V2 = MODELS_V1.replace(
    'sa.Column("id", sa.Integer, primary_key=True),\n                  sa.Column("user_id"',
    'sa.Column("id", sa.BigInteger, primary_key=True),\n                  sa.Column("user_id"',
).replace('sa.Column("total", sa.Integer)', 'sa.Column("total", sa.BigInteger)')

ENV_PY = """
import json
import logging
import os
import time

from alembic import context
from sqlalchemy import engine_from_config, event, pool

import alembic_safety.rewrite
import models

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
LOCKS = os.environ.get("LOCK_LOG")
if LOCKS:
    # After every statement of the migrating connection: the ACCESS EXCLUSIVE locks it holds.
    @event.listens_for(engine, "after_cursor_execute")
    def _locks(conn, cursor, statement, parameters, context_, executemany):
        held = cursor.connection.execute(
            "SELECT l.relation::int FROM pg_locks l WHERE l.pid = pg_backend_pid() "
            "AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'"
        ).fetchall()
        with open(LOCKS, "a") as log:
            entry = {"sql": statement[:80], "held": [r[0] for r in held], "at": time.time()}
            log.write(json.dumps(entry) + "\\n")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        transaction_per_migration=True,
        process_revision_directives=alembic_safety.rewrite.process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()
"""

INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}

[alembic_safety]
rewrite_strategy = shadow-table
backfill_batch_size = 7
"""


@pytest.fixture
def scratch_url() -> Iterator[str]:
    """A throwaway database on the test server, always dropped."""
    if not _reachable():
        pytest.skip(f"no PostgreSQL at {SERVER}")
    name = f"alembic_safety_st_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _project(root: Path, url: str) -> None:
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, migrations / "script.py.mako")
    (migrations / "env.py").write_text(ENV_PY)
    (root / "models.py").write_text(MODELS_V1)
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    (root / "alembic.ini").write_text(INI.format(url=sa_url))


def _alembic(root: Path, *args: str, locks: Path | None = None) -> str:
    env = {"LOCK_LOG": str(locks)} if locks else None
    result = run_alembic(*args, cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _exclusive_on(log: Path, oid: int) -> list[str]:
    """Statements after which the migrating connection held ACCESS EXCLUSIVE on ``oid``."""
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries, "the lock hook saw no statement"
    return [entry["sql"] for entry in entries if oid in entry["held"]]


Rows = dict[int, tuple[Any, ...]]


def _rows(conn: psycopg.Connection[Any], table: str) -> Rows:
    query = sql.SQL("SELECT id, user_id, total, note FROM {} ORDER BY id").format(
        sql.Identifier(table)
    )
    return {row[0]: tuple(row[1:]) for row in conn.execute(query).fetchall()}


def _types(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    return dict(rows)


def _relation(conn: psycopg.Connection[Any], table: str) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT oid::int, relfilenode::int FROM pg_class WHERE oid = to_regclass(%s)", (table,)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def _schema(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What a downgrade must restore: tables, columns, indexes, constraints, triggers,
    functions and sequences of the public schema."""

    def fetch(query: str) -> list[tuple[Any, ...]]:
        return sorted(conn.execute(query).fetchall())

    return {
        "columns": fetch(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
            "AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        "indexes": fetch(
            "SELECT t.relname, i.relname, "
            "substring(pg_get_indexdef(x.indexrelid) from ' USING .*$') FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = 'public'::regnamespace"
        ),
        "constraints": fetch(
            "SELECT c.relname, conname, contype, "
            # The migrate step validates the shadow's foreign keys; its downgrade leaves them.
            "convalidated OR c.relname ~ '_new$', "
            "regexp_replace(pg_get_constraintdef(k.oid), ' NOT VALID$', '') "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "WHERE c.relnamespace = 'public'::regnamespace"
        ),
        "triggers": fetch(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        ),
        "functions": fetch(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ),
        "sequences": fetch(
            "SELECT s.seqrelid::regclass::text, format_type(s.seqtypid, NULL), "
            "d.refobjid::regclass::text, d.refobjsubid FROM pg_sequence s "
            "LEFT JOIN pg_depend d ON d.objid = s.seqrelid AND d.deptype IN ('a', 'i') "
            "AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
        ),
    }


def _assert_schema(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal snapshots; on a difference, only what differs is shown."""
    for key in expected:
        missing = [item for item in expected[key] if item not in actual[key]]
        extra = [item for item in actual[key] if item not in expected[key]]
        assert (key, missing, extra) == (key, [], [])


class Writer:
    """Another application connection: inserts, updates and deletes orders, and remembers
    what ``orders`` must hold."""

    def __init__(self, url: str, expected: Rows) -> None:
        self.url = url
        self.expected = expected
        self.step = 0
        #: When each write was done (time.time()).
        self.times: list[float] = []

    def write(self, conn: psycopg.Connection[Any]) -> None:
        self.step += 1
        n = self.step
        new_id = conn.execute(
            "INSERT INTO orders (user_id, total, note) VALUES (1, %s, %s) RETURNING id",
            (1000 + n, f"w{n}"),
        ).fetchone()
        assert new_id is not None
        self.expected[new_id[0]] = (1, 1000 + n, f"w{n}")
        target = sorted(self.expected)[n % len(self.expected)]
        conn.execute("UPDATE orders SET total = total + 1 WHERE id = %s", (target,))
        user, total, note = self.expected[target]
        self.expected[target] = (user, total + 1, note)
        victim = sorted(self.expected)[(3 * n) % len(self.expected)]
        conn.execute("DELETE FROM orders WHERE id = %s", (victim,))
        del self.expected[victim]
        self.times.append(time.time())


def _migrate_while_writing(root: Path, writer: Writer, locks: Path) -> tuple[str, int]:
    """``alembic upgrade +1`` (the copy) while the writer keeps writing; (output, writes)."""
    env = {**os.environ, "LOCK_LOG": str(locks), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ALEMBIC_CONFIG", None)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        try:
            # Not prepared: a prepared statement's result type changes with the swap (the
            # application gets "cached plan must not change result type" once, as with ALTER).
            with psycopg.connect(writer.url, autocommit=True, prepare_threshold=None) as conn:
                while not stop.is_set():
                    writer.write(conn)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    before = writer.step
    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        result = subprocess.run(
            [str(ALEMBIC), "upgrade", "+1"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr, writer.step - before


def test_shadow_table_end_to_end_with_concurrent_writes(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    _project(root, scratch_url)
    versions = root / "migrations" / "versions"
    _alembic(root, "revision", "--autogenerate", "-m", "initial")
    (initial_path,) = versions.glob("*.py")
    _alembic(root, "upgrade", "head")
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES (1, 'a@example.com')")
        conn.execute(
            "INSERT INTO orders (user_id, total, note) "
            "SELECT 1, g * 10, 'n' || g FROM generate_series(1, 1500) AS g"
        )
        expected = _rows(conn, "orders")
        writer = Writer(scratch_url, expected)

    # -- autogenerate with rewrite_strategy = shadow-table
    (root / "models.py").write_text(MODELS_V2)
    _alembic(root, "revision", "--autogenerate", "-m", "bigint orders")
    new = sorted(set(versions.glob("*.py")) - {initial_path}, key=lambda p: p.name)
    assert len(new) == 4
    by_suffix = {re.sub(r"^\w{12}_bigint_orders_?", "", p.stem) or "expand": p for p in new}
    assert set(by_suffix) == {"expand", "migrate", "contract", "drop"}
    texts = {phase: path.read_text() for phase, path in by_suffix.items()}
    for text in texts.values():
        assert "alembic_safety" not in text  # plain Alembic
        assert "Migration ID: " in text
        assert "Risk Level: " in text
        assert "Phase: " in text
    assert "CREATE TABLE orders_new (LIKE orders INCLUDING ALL)" in texts["expand"]
    assert "op.alter_column('orders'" not in texts["expand"]
    assert "import logging" in texts["migrate"]
    assert "Escalation: swaps orders_new in for orders" in texts["contract"]
    assert "Escalation: drops orders_old" in texts["drop"]

    with psycopg.connect(scratch_url, autocommit=True, prepare_threshold=None) as conn:
        before_expand = _schema(conn)
        original = _relation(conn, "orders")
        assert original is not None
        oid, filenode = original

        # -- expand: the shadow table and the trigger; orders untouched, never ACCESS EXCLUSIVE
        _alembic(root, "upgrade", "+1", locks=tmp_path / "expand.log")
        assert _exclusive_on(tmp_path / "expand.log", oid) == []
        assert _relation(conn, "orders") == original
        assert _types(conn, "orders_new")["id"] == "bigint"
        assert _types(conn, "orders_new")["total"] == "bigint"
        assert _types(conn, "orders")["id"] == "integer"
        shadow_indexes = conn.execute(
            "SELECT relname FROM pg_index JOIN pg_class ON oid = indexrelid "
            "WHERE indrelid = 'orders_new'::regclass ORDER BY 1"
        ).fetchall()
        assert shadow_indexes == [("ix_orders_total_new",), ("orders_pkey_new",)]
        after_expand = _schema(conn)
        for _ in range(3):
            writer.write(conn)
        shadow = _rows(conn, "orders_new")
        assert shadow
        assert all(shadow[key] == expected[key] for key in shadow)
        assert set(shadow) <= set(expected)

        # -- migrate: the keyset copy while the application writes
        output, writes = _migrate_while_writing(root, writer, tmp_path / "migrate.log")
        assert writes > 0
        assert "copy orders -> orders_new:" in output
        batches = [
            entry["at"]
            for line in (tmp_path / "migrate.log").read_text().splitlines()
            if (entry := json.loads(line))["sql"].startswith("WITH batch AS")
        ]
        assert len(batches) > 100  # keyset batches of 7 rows, each its own statement
        assert any(batches[0] < at < batches[-1] for at in writer.times)  # truly concurrent
        assert _exclusive_on(tmp_path / "migrate.log", oid) == []
        assert _relation(conn, "orders") == original
        assert _rows(conn, "orders") == expected
        assert _rows(conn, "orders_new") == expected
        after_migrate = _schema(conn)
        for _ in range(3):  # after the copy, the trigger still follows
            writer.write(conn)
        assert _rows(conn, "orders_new") == expected
        before_swap = expected.copy()

        # -- contract: the swap, the only ACCESS EXCLUSIVE on the original table
        _alembic(root, "upgrade", "+1", locks=tmp_path / "contract.log")
        held = _exclusive_on(tmp_path / "contract.log", oid)
        assert held
        assert held[0].startswith("LOCK TABLE orders, orders_new")
        swapped = _relation(conn, "orders")
        assert swapped is not None
        assert swapped[1] != filenode
        assert _relation(conn, "orders_old") == original  # never rewritten
        assert _types(conn, "orders") == {
            "id": "bigint",
            "user_id": "integer",
            "total": "bigint",
            "note": "character varying(50)",
        }
        assert _rows(conn, "orders") == before_swap
        indexes = dict(
            conn.execute(
                "SELECT relname, indrelid::regclass::text FROM pg_index "
                "JOIN pg_class ON oid = indexrelid WHERE relname LIKE 'orders%' "
                "OR relname LIKE 'ix_orders%'"
            ).fetchall()
        )
        assert indexes["orders_pkey"] == "orders"
        assert indexes["ix_orders_total"] == "orders"
        assert indexes["orders_pkey_old"] == "orders_old"
        fks = conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = 'orders'::regclass "
            "AND contype = 'f'"
        ).fetchall()
        assert fks == [(True,)]
        sequence = conn.execute("SELECT pg_get_serial_sequence('orders', 'id')").fetchone()
        assert sequence == ("public.orders_id_seq",)
        last = conn.execute("SELECT last_value FROM orders_id_seq").fetchone()
        assert last is not None
        writer.write(conn)  # inserts without an id: the sequence keeps counting
        assert max(expected) == last[0] + 1
        assert _rows(conn, "orders") == expected
        assert _rows(conn, "orders_old") == expected  # kept current for the swap back
        after_contract = _schema(conn)

        # -- drop: the old table goes
        _alembic(root, "upgrade", "+1", locks=tmp_path / "drop.log")
        assert _relation(conn, "orders_old") is None
        assert _schema(conn)["triggers"] == []
        assert _schema(conn)["functions"] == []
        writer.write(conn)
        _alembic(root, "check")  # the models and the database agree

        # -- each downgrade restores the schema before its revision, the rows survive
        _alembic(root, "downgrade", "-1")
        _assert_schema(_schema(conn), after_contract)
        assert _rows(conn, "orders_old") == expected
        _alembic(root, "downgrade", "-1")
        _assert_schema(_schema(conn), after_migrate)
        assert _types(conn, "orders")["id"] == "integer"  # the rebuilt old table is back
        assert _rows(conn, "orders") == expected
        writer.write(conn)  # the old table's sequence continues after the new one's ids
        assert _rows(conn, "orders_new") == expected
        _alembic(root, "downgrade", "-1")
        _assert_schema(_schema(conn), after_expand)
        _alembic(root, "downgrade", "-1")
        _assert_schema(_schema(conn), before_expand)
        assert _rows(conn, "orders") == expected

        # -- and up again, to the end
        _alembic(root, "upgrade", "head")
        assert _types(conn, "orders")["id"] == "bigint"
        assert _rows(conn, "orders") == expected

    # The linter reads the files (the header says what it says), and alembic-safety's own dry
    # run (seed, up, down: schema restored?, up) passes every step on a throwaway database.
    report = run_cli("check", "-c", root / "alembic.ini", "--format", "json", cwd=root)
    risks = {entry["revision"]: entry for entry in json.loads(report.stdout)["revisions"]}
    for text in texts.values():
        found = re.search(r"^revision: str = '(\w+)'", text, re.MULTILINE)
        assert found is not None
        assert risks[found.group(1)]["error"] is None
        assert f"Risk Level: {risks[found.group(1)]['risk']}\n" in text
    dry = run_cli("dry-run", "-c", root / "alembic.ini", "--test-url", SERVER, cwd=root)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "5 of 5 revisions checked, 5 passed" in dry.stdout


# -- real PostgreSQL, in process: identity keys, validation blocks ----------------------------


def _invoke(url: str, container: ops.OpContainer) -> None:
    """Run a generated script's ops as Alembic would (autocommit blocks included)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            with context.begin_transaction():
                operations = Operations(context)
                pending = list(container.ops)
                while pending:
                    operation = pending.pop(0)
                    if isinstance(operation, ops.ModifyTableOps):
                        pending[:0] = operation.ops
                    else:
                        operations.invoke(operation)
    finally:
        engine.dispose()


IDENTITY_TABLE = (
    "CREATE TABLE items (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "qty varchar(10) NOT NULL, label text)"
)


def _items_scripts() -> list[ops.MigrationScript]:
    metadata = sa.MetaData()
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("label", sa.Text),
    )
    return _generate(
        metadata,
        [
            _type_change("items", "id", sa.Integer(), sa.BigInteger()),
            _type_change("items", "qty", sa.String(10), sa.Integer()),
        ],
    )


def test_identity_key_and_a_cast_survive_the_swap_and_the_swap_back(scratch_url: str) -> None:
    expand, migrate, contract, drop = _items_scripts()
    with psycopg.connect(scratch_url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute(IDENTITY_TABLE)
        conn.execute(
            "INSERT INTO items (qty, label) SELECT g::text, 'l' || g FROM generate_series(1, 25) g"
        )
        _invoke(scratch_url, expand.upgrade_ops)
        conn.execute("INSERT INTO items (qty, label) VALUES ('26', 'during')")  # trigger: cast
        conn.execute("UPDATE items SET qty = '99' WHERE id = 2")
        _invoke(scratch_url, migrate.upgrade_ops)
        shadow = conn.execute("SELECT id, qty FROM items_new ORDER BY id").fetchall()
        assert len(shadow) == 26
        assert shadow[1] == (2, 99)
        _invoke(scratch_url, contract.upgrade_ops)
        assert _types(conn, "items")["qty"] == "integer"
        assert _types(conn, "items")["id"] == "bigint"
        new_id = conn.execute("INSERT INTO items (qty) VALUES (7) RETURNING id").fetchone()
        assert new_id == (27,)  # the new table's identity moved on past the old one's
        old = conn.execute("SELECT qty FROM items_old WHERE id = 27").fetchone()
        assert old == ("7",)  # the back sync casts to the old type
        _invoke(scratch_url, contract.downgrade_ops)
        assert _types(conn, "items")["qty"] == "character varying(10)"
        new_id = conn.execute("INSERT INTO items (qty) VALUES ('8') RETURNING id").fetchone()
        assert new_id == (28,)  # and the old one past the new one's, after the swap back
        assert conn.execute("SELECT qty FROM items_new WHERE id = 28").fetchone() == (8,)
        _invoke(scratch_url, contract.upgrade_ops)
        _invoke(scratch_url, drop.upgrade_ops)
        assert _relation(conn, "items_old") is None
        count = conn.execute("SELECT count(*), max(id) FROM items").fetchone()
        assert count == (28, 28)


def test_validation_blocks_fail_loudly_when_the_copies_differ(scratch_url: str) -> None:
    expand, migrate, contract, _ = _items_scripts()
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(IDENTITY_TABLE)
        conn.execute("INSERT INTO items (qty) SELECT g::text FROM generate_series(1, 5) g")
        _invoke(scratch_url, expand.upgrade_ops)
        # Something interferes with the copy: a trigger of someone else's swallows row 3.
        conn.execute(
            "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.id = 3 THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER swallow BEFORE INSERT ON items_new FOR EACH ROW EXECUTE FUNCTION "
            "swallow()"
        )
        with pytest.raises(RuntimeError, match=r"copy of items into items_new incomplete: 5 rows"):
            _invoke(scratch_url, migrate.upgrade_ops)
        conn.execute("DROP TRIGGER swallow ON items_new")
        # A row left in the copy by hand: the rerun removes it, copies row 3, and passes.
        conn.execute("INSERT INTO items_new (id, qty) OVERRIDING SYSTEM VALUE VALUES (400, 1)")
        _invoke(scratch_url, migrate.upgrade_ops)
        assert conn.execute("SELECT array_agg(id ORDER BY id) FROM items_new").fetchone() == (
            [1, 2, 3, 4, 5],
        )
        conn.execute("INSERT INTO items_new (id, qty) OVERRIDING SYSTEM VALUE VALUES (500, 1)")
        with pytest.raises(sa.exc.DBAPIError, match="items has 5 rows but items_new has 6"):
            _invoke(scratch_url, contract.upgrade_ops)
        assert _relation(conn, "items_old") is None  # the failed swap changed nothing
        conn.execute("DELETE FROM items_new WHERE id = 500")
        _invoke(scratch_url, contract.upgrade_ops)
        assert _types(conn, "items")["qty"] == "integer"


@pytest.mark.parametrize("table", ["Order Lines", "O'Neil 5%"])
def test_quoted_names_in_a_schema_round_trip_on_postgresql(scratch_url: str, table: str) -> None:
    metadata = _metadata("Sales", table)
    sa.Index("IX Total", metadata.tables[f"Sales.{table}"].c.total)
    expand, migrate, contract, drop = _generate(
        metadata,
        [
            _type_change(table, "id", sa.Integer(), sa.BigInteger(), schema="Sales"),
            _type_change(table, "total", sa.Integer(), sa.BigInteger(), schema="Sales"),
        ],
    )
    live = f'"Sales"."{table}"'
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "Sales"')
        conn.execute(f"CREATE TABLE {live} (id serial PRIMARY KEY, total integer, note text)")
        conn.execute(f'CREATE INDEX "IX Total" ON {live} (total)')
        conn.execute(f"INSERT INTO {live} (total) SELECT g FROM generate_series(1, 9) g")

        def indexes() -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT indrelid::regclass::text, indexrelid::regclass::text FROM pg_index "
                "WHERE indrelid::regclass::text LIKE '\"Sales\".%' ORDER BY 1, 2"
            ).fetchall()
            return [(str(a), str(b)) for a, b in rows]

        before = indexes()
        _invoke(scratch_url, expand.upgrade_ops)
        conn.execute(f"DELETE FROM {live} WHERE id = 4")
        _invoke(scratch_url, migrate.upgrade_ops)
        _invoke(scratch_url, contract.upgrade_ops)
        assert _types(conn, live)["id"] == "bigint"
        assert (live, '"Sales"."IX Total"') in indexes()
        assert (f'"Sales"."{table}_old"', '"Sales"."IX Total_old"') in indexes()
        row = conn.execute(f"INSERT INTO {live} (total) VALUES (10) RETURNING id").fetchone()
        assert row == (10,)
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (live,)).fetchone()
        assert sequence == (f'"Sales"."{table}_id_seq"',)
        _invoke(scratch_url, drop.upgrade_ops)
        _invoke(scratch_url, drop.downgrade_ops)
        _invoke(scratch_url, contract.downgrade_ops)
        _invoke(scratch_url, migrate.downgrade_ops)
        _invoke(scratch_url, expand.downgrade_ops)
        assert indexes() == before
        assert _types(conn, live)["id"] == "integer"
        ids = conn.execute(f"SELECT array_agg(id ORDER BY id) FROM {live}").fetchone()
        assert ids == ([1, 2, 3, 5, 6, 7, 8, 9, 10],)
        row = conn.execute(f"INSERT INTO {live} (total) VALUES (11) RETURNING id").fetchone()
        assert row == (11,)
