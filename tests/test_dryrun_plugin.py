"""The pytest plugin as a user sees it: fixtures and ready-made tests in a project's own suite."""

from __future__ import annotations

import os
import textwrap

import psycopg
import pytest

pytest_plugins = ["pytester"]

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not _reachable(), reason=f"no PostgreSQL at {SERVER}"),
]

ENV_PY = """\
import sqlalchemy as sa
from alembic import context
from sqlalchemy import engine_from_config, pool

metadata = sa.MetaData()
sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Index("ix_items_name", "name"),
)

config = context.config
connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = '''\
"""items"""
from alembic import op
import sqlalchemy as sa

revision = "i1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("items")
'''

SECOND = '''\
"""index on items.name"""
from alembic import op

revision = "i2"
down_revision = "i1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_name", "items", ["name"])


def downgrade() -> None:
    {downgrade}
'''

USER_TESTS = """\
import psycopg

from alembic_safety.pytest_plugin import (  # noqa: F401
    test_model_matches_migrations,
    test_single_head,
    test_stairway,
    test_upgrade_downgrade_roundtrip,
)


def test_database_fixture(alembic_safety_database):
    url = alembic_safety_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
    assert name.startswith("alembic_safety_")
"""


CONFTEST = """\
import os

import pytest


@pytest.fixture
def alembic_safety_config():
    return os.path.join(os.path.dirname(__file__), "alembic.ini")
"""


def write_project(pytester: pytest.Pytester, name: str, downgrade: str) -> None:
    """A project in its own directory, with the user's test module and a conftest pointing
    ``alembic_safety_config`` at its alembic.ini."""
    root = pytester.path / name
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    root.joinpath("alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\npath_separator = os\n"
        # the project's own database: must never be reached
        "sqlalchemy.url = postgresql+psycopg://postgres@127.0.0.1:1/production\n",
        encoding="utf-8",
    )
    (root / "migrations" / "env.py").write_text(ENV_PY, encoding="utf-8")
    (versions / "i1_items.py").write_text(REVISION, encoding="utf-8")
    (versions / "i2_index.py").write_text(
        textwrap.dedent(SECOND).format(downgrade=downgrade), encoding="utf-8"
    )
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (root / f"test_{name}.py").write_text(USER_TESTS, encoding="utf-8")


def test_ready_made_tests_and_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALEMBIC_SAFETY_TEST_URL", SERVER)
    monkeypatch.setenv("CI", "1")
    write_project(pytester, "good", 'op.drop_index("ix_items_name", "items")')
    write_project(pytester, "bad", "pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rf")
    # good: all five pass; bad: the stairway fails (the downgrade forgets the index), the
    # whole-history roundtrip and the model check cannot see it and pass
    result.assert_outcomes(passed=9, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*index ix_items_name still present after downgrade*",
            "FAILED bad/test_bad.py::test_stairway*",
        ]
    )
