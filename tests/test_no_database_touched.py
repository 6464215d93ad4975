"""Against a real PostgreSQL: the check never touches the database, even when alembic.ini points
at a real one, and its verdicts agree with what a real ``alembic upgrade`` does.

A scratch database holds ``accounts`` with 3 rows; the revision deletes, truncates and drops it.
Both ``alembic safety-check`` and ``alembic-safety check`` must report the dangers while the
table, its rows and the absence of ``alembic_version`` stay exactly as they were, and the
server's own session counter for that database must not move. A final ``alembic upgrade head``
proves the setup is live: the same project really does destroy the table.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import psycopg
import pytest
from conftest import MakeProject, Project, run_alembic, run_cli
from pgfacts import scratch_database
from psycopg.conninfo import conninfo_to_dict

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_URL = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

DESTRUCTIVE = """
op.execute("DELETE FROM accounts")
op.get_bind().execute(sa.text("TRUNCATE accounts"))
op.drop_table("accounts")
"""


def _server_available() -> bool:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="module")
def admin_url() -> str:
    if not _server_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    return PG_URL


@pytest.fixture
def scratch(admin_url: str) -> Iterator[str]:
    """conninfo of a fresh database with ``accounts`` (3 rows)."""
    with scratch_database(admin_url) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL)")
            conn.execute("INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        yield conninfo


def _sqlalchemy_url(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    password = f":{params['password']}" if params.get("password") else ""
    return f"postgresql+psycopg://{user}{password}@{host}:{port}/{params['dbname']}"


def _sessions(admin_url: str, dbname: str) -> int:
    """Client sessions ever opened on ``dbname`` (pg_stat_database.sessions, PostgreSQL 14+)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (dbname,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _settled_sessions(admin_url: str, dbname: str, at_least: int) -> int:
    """The counter once every closed session has been flushed to the statistics."""
    deadline = time.monotonic() + 10
    value = _sessions(admin_url, dbname)
    while value < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
        value = _sessions(admin_url, dbname)
    return value


def _state(conninfo: str) -> tuple[int | None, bool]:
    """(rows in accounts or None when the table is gone, alembic_version exists)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('accounts') IS NOT NULL").fetchone()
        version = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        assert exists is not None
        assert version is not None
        count = None
        if exists[0]:
            row = conn.execute("SELECT count(*) FROM accounts").fetchone()
            assert row is not None
            count = int(row[0])
    return count, bool(version[0])


@pytest.fixture
def live_project(make_project: MakeProject, scratch: str) -> Project:
    project = make_project(url=_sqlalchemy_url(scratch))
    project.revision("dead0001", None, DESTRUCTIVE)
    return project


def test_checks_report_dangers_without_touching_the_database(
    live_project: Project, scratch: str, admin_url: str
) -> None:
    dbname = conninfo_to_dict(scratch)["dbname"]
    assert isinstance(dbname, str)
    before = _settled_sessions(admin_url, dbname, at_least=1)  # the fixture's setup session

    plugin = run_alembic("-x", "format=json", "safety-check", cwd=live_project.root)
    standalone = run_cli("check", "--format", "json", cwd=live_project.root)

    for result in (plugin, standalone):
        assert result.returncode == 1, result.stdout + result.stderr
        [revision] = json.loads(result.stdout)["revisions"]
        assert revision["error"] is None
        codes = {f["code"] for f in revision["findings"]}
        assert {"AS304", "AS303", "AS302", "AS902"} <= codes
        assert revision["risk"] == "CRITICAL"

    time.sleep(0.3)  # a connection the tools might have closed would be counted by now
    assert _sessions(admin_url, dbname) == before, "a check connected to the database"
    assert _state(scratch) == (3, False)
    checked = _settled_sessions(admin_url, dbname, at_least=before + 1)  # _state's session

    # The project is live: running the migration for real connects and destroys the table,
    # and the session counter used above does see that connection.
    upgrade = run_alembic("upgrade", "head", cwd=live_project.root)
    assert upgrade.returncode == 0, upgrade.stderr
    assert _settled_sessions(admin_url, dbname, at_least=checked + 1) >= checked + 1
    assert _state(scratch) == (None, True)


ENV_CONNECTING_AT_IMPORT = """
from pathlib import Path

from sqlalchemy import text

_engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with _engine.connect() as _connection:  # e.g. a multi-tenant env.py listing its schemas
    TENANTS = _connection.execute(text("SELECT count(*) FROM accounts")).scalar()
Path(__file__).with_name("connected.marker").write_text(str(TENANTS))
"""


def test_env_py_connecting_at_import_is_not_run_against_the_database(
    live_project: Project, scratch: str
) -> None:
    env_py = live_project.migrations / "env.py"
    source = env_py.read_text(encoding="utf-8")
    anchor = "target_metadata = None\n"
    env_py.write_text(source.replace(anchor, anchor + ENV_CONNECTING_AT_IMPORT), encoding="utf-8")
    marker = live_project.migrations / "connected.marker"

    result = run_cli("check", "--format", "json", cwd=live_project.root)

    assert result.returncode == 1, result.stderr
    [revision] = json.loads(result.stdout)["revisions"]
    assert "AS302" in {f["code"] for f in revision["findings"]}
    assert _state(scratch) == (3, False)
    assert not marker.exists(), "env.py connected to the database during the check"


def test_commit_hack_does_not_leave_the_transaction_with_psycopg3(
    make_project: MakeProject, scratch: str
) -> None:
    """Ground truth for the COMMIT-first hack with psycopg 3 (``postgresql+psycopg``).

    psycopg 3 sees the connection idle after the raw COMMIT and sends BEGIN before the next
    statement, so the concurrent build still runs in a transaction and the deploy fails.
    """
    project = make_project(url=_sqlalchemy_url(scratch))
    project.revision(
        "c0441117",
        None,
        """
        op.execute("COMMIT")
        op.create_index("ix_accounts_owner", "accounts", ["owner"], postgresql_concurrently=True)
        """,
    )
    upgrade = run_alembic("upgrade", "head", cwd=project.root)
    assert upgrade.returncode == 1
    assert "CREATE INDEX CONCURRENTLY cannot run inside a transaction block" in upgrade.stderr
    with psycopg.connect(scratch, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('ix_accounts_owner') IS NULL").fetchone()
    assert row == (True,)
