"""The dry run beyond one PostgreSQL database: SQLite projects and Alembic's multidb template.

SQLite projects run on a temporary file (``sqlalchemy.url = sqlite:///app.db`` is never
opened); a multidb project (generated with the real ``alembic init -t multidb``) gets one
throwaway database per engine on the PostgreSQL service, and its two "production" databases
stay untouched.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from conftest import ALEMBIC, MakeProject, Project
from psycopg import sql

from alembic_safety.dryrun import dry_run
from alembic_safety.dryrun.report import DryRunReport, render_text, to_json

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _server_reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


_REACHABLE = _server_reachable()
needs_server = pytest.mark.skipif(not _REACHABLE, reason=f"no PostgreSQL at {SERVER}")


def leftover_databases() -> list[str]:
    """Dry-run databases on the server created by this process."""
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
        if pid == os.getpid():
            names.append(name)
    return names


def revision(report: DryRunReport, rev: str) -> Any:
    return next(r for r in report.revisions if r.revision == rev)


# -- SQLite -----------------------------------------------------------------------------------

SQLITE_R1_UP = """
op.create_table(
    "customers",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("email", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(10), nullable=False, server_default="retail"),
    sa.CheckConstraint("kind IN ('retail', 'wholesale')", name="ck_customers_kind"),
)
op.create_table(
    "orders",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
)
op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
"""
SQLITE_R1_DOWN = """
op.drop_index("ix_orders_customer_id", "orders")
op.drop_table("orders")
op.drop_table("customers")
"""


@pytest.fixture
def sqlite_project(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """``sqlalchemy.url = sqlite:///app.db`` (relative: next to alembic.ini, the cwd)."""
    project = make_project(url="sqlite:///app.db")
    monkeypatch.chdir(project.root)
    project.revision("r1", None, SQLITE_R1_UP, SQLITE_R1_DOWN)
    yield project
    assert not (project.root / "app.db").exists()


def sqlite_files() -> set[str]:
    import tempfile

    return {
        name
        for name in os.listdir(tempfile.gettempdir())
        if name.startswith("alembic-safety-") and name.endswith(".sqlite")
    }


def test_sqlite_history_with_batch_mode_passes_on_a_temp_file(sqlite_project: Project) -> None:
    project = sqlite_project
    project.revision(
        "r2",
        "r1",
        """
        with op.batch_alter_table("orders") as batch:
            batch.add_column(sa.Column("note", sa.Text(), nullable=True))
            batch.alter_column("total", existing_type=sa.Numeric(10, 2), nullable=True)
            batch.create_index("ix_orders_note", ["note"])
        """,
        """
        with op.batch_alter_table("orders") as batch:
            batch.drop_index("ix_orders_note")
            batch.alter_column("total", existing_type=sa.Numeric(10, 2), nullable=False)
            batch.drop_column("note")
        """,
    )
    project.revision(
        "r3",
        "r2",
        'op.add_column("customers", sa.Column("nickname", sa.String(40), nullable=True))',
        """
        with op.batch_alter_table("customers") as batch:
            batch.drop_column("nickname")
        """,
    )
    before = sqlite_files()
    report = dry_run(Config(str(project.ini)), test_url=SERVER)
    text = render_text(report)
    assert report.passed, text
    assert report.database == "sqlite"
    assert report.sqlite_version
    assert [r.revision for r in report.revisions] == ["r1", "r2", "r3"]
    assert all(r.locks == [] and r.rewritten == [] for r in report.revisions)
    assert text.startswith("dry run on SQLite ")
    assert "no lock tracing" in text
    document = json.loads(to_json(report))["dry_run"]
    assert document["database"] == "sqlite"
    assert document["notes"]
    # the temporary file is gone, and the project's own database was never created
    assert not Path(report.database_name).exists()
    assert sqlite_files() == before
    assert not (project.root / "app.db").exists()


def test_sqlite_project_database_is_left_alone_when_it_exists(sqlite_project: Project) -> None:
    import sqlite3

    project = sqlite_project
    app_db = project.root / "app.db"
    with sqlite3.connect(app_db) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
        conn.execute("INSERT INTO accounts VALUES (1, 'ann')")
    conn.close()
    content = app_db.read_bytes()
    report = dry_run(Config(str(project.ini)))
    assert report.passed, render_text(report)
    assert app_db.read_bytes() == content
    app_db.unlink()  # the fixture checks that no app.db is left by the run


def test_sqlite_downgrade_that_forgets_an_index_names_it(sqlite_project: Project) -> None:
    project = sqlite_project
    project.revision("r2", "r1", 'op.create_index("ix_orders_total", "orders", ["total"])', "pass")
    report = dry_run(Config(str(project.ini)))
    failed = revision(report, "r2")
    assert not report.passed
    assert failed.downgrade == "failed"
    assert failed.error is not None
    assert failed.error.kind == "schema"
    assert failed.schema_diff == ["index ix_orders_total still present after downgrade"]
    assert "ix_orders_total" in failed.error.message
    assert not Path(report.database_name).exists()


def test_sqlite_snapshot_sees_columns_and_constraints(sqlite_project: Project) -> None:
    project = sqlite_project
    project.revision(
        "r2",
        "r1",
        """
        with op.batch_alter_table("customers") as batch:
            batch.alter_column("kind", existing_type=sa.String(10), server_default="wholesale")
        """,
        "pass",
    )
    report = dry_run(Config(str(project.ini)))
    diff = revision(report, "r2").schema_diff
    assert len(diff) == 1
    assert diff[0].startswith("column customers.kind differs after downgrade")
    assert "wholesale" in diff[0]


# -- multidb ----------------------------------------------------------------------------------


@pytest.fixture
def two_productions() -> Iterator[list[str]]:
    """Two scratch "production" databases with data that must stay put."""
    if not _REACHABLE:
        pytest.skip(f"no PostgreSQL at {SERVER}")
    names = [f"as_prod_{secrets.token_hex(6)}" for _ in range(2)]
    urls = []
    with psycopg.connect(SERVER, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    for name in names:
        url = SERVER.rsplit("/", 1)[0] + "/" + name
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text)")
            conn.execute("INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob')")
        urls.append(url)
    try:
        yield urls
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        assert leftover_databases() == []


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


MULTIDB_REVISION = '''\
"""{rev}

Revision ID: {rev}
Revises: {down}
Create Date: 2024-01-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name: str) -> None:
    globals()["downgrade_%s" % engine_name]()


def upgrade_engine1() -> None:
{up1}


def downgrade_engine1() -> None:
{down1}


def upgrade_engine2() -> None:
{up2}


def downgrade_engine2() -> None:
{down2}
'''


def _indent(body: str) -> str:
    return "\n".join("    " + line for line in body.strip().splitlines())


def multidb_project(tmp_path: Path, urls: list[str], *, forget_index: bool = False) -> Path:
    """``alembic init -t multidb`` in ``tmp_path``, engine URLs set, two revisions."""
    subprocess.run(
        [str(ALEMBIC), "init", "-t", "multidb", "migrations"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    ini = tmp_path / "alembic.ini"
    text = ini.read_text(encoding="utf-8")
    for engine, url in zip(("engine1", "engine2"), urls, strict=True):
        driver_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        text, count = re.subn(
            rf"(\[{engine}\]\s*\nsqlalchemy\.url\s*=).*",
            lambda m, u=driver_url: f"{m.group(1)} {u}",
            text,
        )
        assert count == 1, text
    ini.write_text(text, encoding="utf-8")
    versions = tmp_path / "migrations" / "versions"
    table = """
op.create_table(
    "{name}",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("label", sa.String(20), nullable=False),
)"""
    (versions / "m1_tables.py").write_text(
        MULTIDB_REVISION.format(
            rev="m1",
            down=None,
            up1=_indent(table.format(name="users")),
            down1=_indent('op.drop_table("users")'),
            up2=_indent(table.format(name="events")),
            down2=_indent('op.drop_table("events")'),
        ),
        encoding="utf-8",
    )
    (versions / "m2_indexes.py").write_text(
        MULTIDB_REVISION.format(
            rev="m2",
            down="m1",
            up1=_indent('op.create_index("ix_users_label", "users", ["label"])'),
            down1=_indent('op.drop_index("ix_users_label", "users")'),
            up2=_indent('op.create_index("ix_events_label", "events", ["label"])'),
            down2=_indent("pass" if forget_index else 'op.drop_index("ix_events_label", "events")'),
        ),
        encoding="utf-8",
    )
    return ini


@needs_server
def test_multidb_template_runs_each_engine_on_its_own_throwaway_database(
    tmp_path: Path, two_productions: list[str]
) -> None:
    ini = multidb_project(tmp_path, two_productions)
    before = [production_state(url) for url in two_productions]
    config = Config(str(ini))
    report = dry_run(config, test_url=SERVER)
    text = render_text(report)
    assert report.passed, text
    assert [r.revision for r in report.revisions] == ["m1", "m2"]
    assert list(report.engines) == ["engine1", "engine2"]
    assert len(set(report.engines.values())) == 2
    assert "engine1=alembic_safety_" in text
    assert "engine2=alembic_safety_" in text
    m2 = revision(report, "m2")
    assert {lock.relation for lock in m2.locks} == {"engine1:users", "engine2:events"}
    assert set(m2.rows_seeded) == {"engine1:users", "engine2:events"}
    # the production databases never saw the run
    assert [production_state(url) for url in two_productions] == before
    assert all(state[0] == ["accounts"] for state in before)
    # the caller's Config is as it was
    assert config.get_section_option("engine1", "sqlalchemy.url").endswith(
        two_productions[0].rsplit("/", 1)[1]
    )
    assert leftover_databases() == []


@needs_server
def test_multidb_downgrade_that_forgets_an_index_on_one_engine(
    tmp_path: Path, two_productions: list[str]
) -> None:
    ini = multidb_project(tmp_path, two_productions, forget_index=True)
    before = [production_state(url) for url in two_productions]
    report = dry_run(Config(str(ini)), test_url=SERVER)
    assert not report.passed
    failed = revision(report, "m2")
    assert failed.downgrade == "failed"
    assert failed.reupgrade == "not run"
    assert failed.schema_diff == ["engine2: index ix_events_label still present after downgrade"]
    assert failed.error is not None
    assert "ix_events_label" in failed.error.message
    assert revision(report, "m1").passed
    assert [production_state(url) for url in two_productions] == before
    assert leftover_databases() == []


def test_sqlite_guard_refuses_the_project_file(
    sqlite_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine built before the run cannot be redirected: the guard stops it."""
    import sqlite3

    from alembic_safety.errors import UsageError

    project = sqlite_project
    app_db = project.root / "app.db"
    with sqlite3.connect(app_db) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    conn.close()
    content = app_db.read_bytes()
    (project.root / "prod_engine_sqlite.py").write_text(
        "from sqlalchemy import create_engine, pool\n"
        f"engine = create_engine({f'sqlite:///{app_db}'!r}, poolclass=pool.NullPool)\n",
        encoding="utf-8",
    )
    (project.migrations / "env.py").write_text(
        "from alembic import context\n"
        "import prod_engine_sqlite\n"
        "with prod_engine_sqlite.engine.connect() as connection:\n"
        "    context.configure(connection=connection, target_metadata=None)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(project.root))
    import prod_engine_sqlite  # noqa: F401 - the engine exists before the run, like an app's

    with pytest.raises(UsageError, match=r"instead of the throwaway database"):
        dry_run(Config(str(project.ini)))
    assert app_db.read_bytes() == content
    app_db.unlink()


MULTIDB_MODELS = """
import sqlalchemy as sa

metadata1 = sa.MetaData()
metadata2 = sa.MetaData()
for metadata, name in ((metadata1, "users"), (metadata2, "events")):
    sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(20), nullable=False, index=True),
        sa.Column("note", sa.Text),
    )
    sa.Table(
        "accounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.Text),
    )
"""


def test_multidb_autogenerate_gets_one_file_with_a_header_for_every_engine(
    tmp_path: Path, two_productions: list[str]
) -> None:
    """The rewriter on Alembic's multidb template: autogenerate calls the hook once per engine
    on the same script, so no follow-up scripts (the next engine's ops would land in them), one
    header covering every engine, and each engine's section starting with one lock_timeout."""
    ini = multidb_project(tmp_path, two_productions)
    env_py = tmp_path / "migrations" / "env.py"
    source = env_py.read_text(encoding="utf-8")
    source = source.replace(
        "target_metadata = {}",
        "import alembic_safety.rewrite\nimport models\n"
        "target_metadata = {'engine1': models.metadata1, 'engine2': models.metadata2}",
    )
    source, count = re.subn(
        r"(target_metadata=target_metadata\.get\(name\),\n)(\s*\)\n\s*context\.run_migrations)",
        r"\1                process_revision_directives="
        r"alembic_safety.rewrite.process_revision_directives,\n\2",
        source,
    )
    assert count == 1, source
    env_py.write_text(source, encoding="utf-8")
    (tmp_path / "models.py").write_text(MULTIDB_MODELS, encoding="utf-8")
    assert "prepend_sys_path = ." in ini.read_text(encoding="utf-8")  # models.py is found
    for args in (["upgrade", "heads"], ["revision", "--autogenerate", "-m", "notes"]):
        result = subprocess.run(
            [str(ALEMBIC), *args], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    versions = tmp_path / "migrations" / "versions"
    (generated,) = [p for p in versions.glob("*.py") if not p.name.startswith("m")]
    written = generated.read_text(encoding="utf-8")
    assert written.count("alembic-safety:\nMigration ID:") == 1
    assert "Phase: expand" in written
    for engine, table in (("engine1", "users"), ("engine2", "events")):
        body = written.split(f"def upgrade_{engine}()", 1)[1].split("\ndef ", 1)[0]
        assert body.count("SET lock_timeout") == 1, body
        assert f"op.add_column('{table}', sa.Column('note'" in body
    result = subprocess.run(
        [str(ALEMBIC), "upgrade", "heads"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
