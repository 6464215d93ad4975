"""pytest plugin (``pytest11`` entry point): throwaway databases and ready-made migration tests.

pytest loads this module in every project that installs alembic-safety, so importing it does
nothing but define fixtures and functions; the database machinery is imported inside them.

Fixtures
    ``alembic_safety_config``
        Path of the project's Alembic config; default ``alembic.ini`` in pytest's rootdir.
        Override it in a conftest.py to point elsewhere.
    ``alembic_safety_options``
        Keyword arguments for the dry run (``rows``, ``rows_per_table``, ``revision_range``,
        ``trace_locks``); default ``{}``.
    ``alembic_safety_server`` (session)
        One embedded PostgreSQL for the whole session, or None when ``ALEMBIC_SAFETY_TEST_URL``
        names a server to use instead.
    ``alembic_safety_database``
        URL (``postgresql+psycopg://``) of a fresh database for one test, dropped afterwards.
    ``alembic_safety_stairway``
        The :class:`~alembic_safety.dryrun.report.DryRunReport` of a dry run of the project's
        history (every revision up → down → up, on seeded tables).

Ready-made tests, switched on by importing them into a test module of the project::

    # tests/test_migrations.py
    from alembic_safety.pytest_plugin import (  # noqa: F401
        test_model_matches_migrations,
        test_single_head,
        test_stairway,
        test_upgrade_downgrade_roundtrip,
    )

The project's own database (``sqlalchemy.url``) is never used: env.py runs unchanged, with
every engine it builds pointed at the throwaway database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from alembic.config import Config

    from alembic_safety.dryrun.databases import EmbeddedServer, Throwaway
    from alembic_safety.dryrun.report import DryRunReport

__all__ = [
    "alembic_safety_config",
    "alembic_safety_database",
    "alembic_safety_options",
    "alembic_safety_server",
    "alembic_safety_stairway",
    "test_model_matches_migrations",
    "test_single_head",
    "test_stairway",
    "test_upgrade_downgrade_roundtrip",
]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def alembic_safety_config(request: pytest.FixtureRequest) -> str:
    """Path of the project's alembic.ini (or pyproject.toml); override to change it."""
    return str(Path(request.config.rootpath) / "alembic.ini")


@pytest.fixture
def alembic_safety_options() -> dict[str, Any]:
    """Extra keyword arguments for the dry run (``rows=0`` turns seeding off, ...)."""
    return {}


@pytest.fixture(scope="session")
def alembic_safety_server() -> Iterator[EmbeddedServer | None]:
    """An embedded PostgreSQL shared by the session (None with ``ALEMBIC_SAFETY_TEST_URL``)."""
    from alembic_safety.dryrun.databases import EmbeddedServer, env_test_url

    if env_test_url():
        yield None
        return
    server = EmbeddedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alembic_safety_throwaway(
    alembic_safety_server: EmbeddedServer | None,
) -> Iterator[Throwaway]:
    from alembic_safety.dryrun.databases import env_test_url, throwaway_database

    with throwaway_database(env_test_url(), server=alembic_safety_server) as database:
        yield database


@pytest.fixture
def alembic_safety_database(alembic_safety_throwaway: Throwaway) -> str:
    """URL of a fresh PostgreSQL database for this test (dropped afterwards)."""
    return alembic_safety_throwaway.url


def _load(path: str) -> Config:
    from alembic_safety.loading import load_config

    return load_config(path)


@contextmanager
def _migrating(config: Config, throwaway: Throwaway) -> Iterator[None]:
    """alembic commands inside: env.py runs against ``throwaway``, whichever way it connects."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from alembic_safety.dryrun.redirect import redirected

    engine = create_engine(throwaway.url, poolclass=NullPool)
    try:
        with engine.connect() as connection, redirected(config, throwaway, connection):
            yield
    finally:
        engine.dispose()


@pytest.fixture
def alembic_safety_stairway(
    alembic_safety_config: str,
    alembic_safety_server: EmbeddedServer | None,
    alembic_safety_options: dict[str, Any],
) -> DryRunReport:
    """Dry-run the project's history (every revision up → down → up) and return the report."""
    from alembic_safety.dryrun import dry_run

    return dry_run(
        _load(alembic_safety_config), server=alembic_safety_server, **alembic_safety_options
    )


# -- ready-made tests -------------------------------------------------------------------------


def test_single_head(alembic_safety_config: str) -> None:
    """The history has exactly one head (two heads make ``alembic upgrade head`` fail)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_load(alembic_safety_config)).get_heads()
    assert len(heads) == 1, f"expected one head, found {len(heads)}: {', '.join(heads)}"


def test_stairway(alembic_safety_stairway: DryRunReport) -> None:
    """Every revision upgrades, downgrades to the exact previous schema, and upgrades again."""
    from alembic_safety.dryrun.report import render_text

    if not alembic_safety_stairway.passed:
        pytest.fail(render_text(alembic_safety_stairway), pytrace=False)


def test_upgrade_downgrade_roundtrip(
    alembic_safety_config: str, alembic_safety_throwaway: Throwaway
) -> None:
    """``upgrade heads``, ``downgrade base``, ``upgrade heads`` with the real alembic commands."""
    from alembic import command

    config = _load(alembic_safety_config)
    with _migrating(config, alembic_safety_throwaway):
        command.upgrade(config, "heads")
        command.downgrade(config, "base")
        command.upgrade(config, "heads")


def test_model_matches_migrations(
    alembic_safety_config: str, alembic_safety_throwaway: Throwaway
) -> None:
    """At head, the models (env.py's ``target_metadata``) match the migrated schema."""
    from alembic import command
    from alembic.util import AutogenerateDiffsDetected

    config = _load(alembic_safety_config)
    with _migrating(config, alembic_safety_throwaway):
        command.upgrade(config, "heads")
        try:
            command.check(config)
        except AutogenerateDiffsDetected as exc:
            pytest.fail(f"models and migrations differ: {exc}", pytrace=False)
