"""The project's models (env.py's ``target_metadata``), loaded without touching a database.

Rules that know the models can tell "dropping a column the application still maps" from a
drop of a column already removed from the code. env.py normally connects in online mode, so it
is run with an environment that reports *offline* mode, records what ``context.configure()`` is
given, and runs no migration. Failing application imports get stand-ins; any other failure
just means the models are unavailable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import alembic.context
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

from alembic_safety.analysis.recorder import clear_proxy, install_proxy
from alembic_safety.analysis.standins import tolerant_imports

__all__ = ["load_target_metadata"]


class _MetadataProbe(EnvironmentContext):
    """An environment in which env.py configures itself but never connects or migrates."""

    captured: Any = None

    def is_offline_mode(self) -> bool:
        return True

    def configure(self, *_args: Any, **kwargs: Any) -> None:
        self.captured = kwargs.get("target_metadata")

    def run_migrations(self, **_kwargs: Any) -> None:
        return None

    def begin_transaction(self) -> AbstractContextManager[Any]:
        return nullcontext()


def _as_metadata(value: Any) -> MetaData | None:
    if isinstance(value, MetaData):
        return value
    if isinstance(value, (list, tuple)):  # the multidb template passes several
        merged = MetaData()
        for item in value:
            if isinstance(item, MetaData):
                for table in item.tables.values():
                    table.to_metadata(merged)
        return merged if merged.tables else None
    return None


class _NoDatabaseInCheckMode(RuntimeError):
    """Raised when env.py tries to connect while only its models are wanted."""


@contextmanager
def no_connections() -> Iterator[None]:
    """Make every attempt to open a database connection fail, for code run in check mode.

    env.py files sometimes connect outside their online/offline split (listing tenant schemas,
    reading settings from a table); check mode promises never to touch a database.
    """

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise _NoDatabaseInCheckMode("alembic-safety check never connects to a database")

    patches: list[tuple[Any, str, Any]] = [
        (Engine, "connect", refuse),
        (Engine, "raw_connection", refuse),
    ]
    # A raw psycopg connection is refused too when psycopg is loaded (importing it only for
    # this would cost a quarter of a second on every run).
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        patches.append((psycopg, "connect", refuse))
        patches.append((psycopg.Connection, "connect", classmethod(refuse)))
    saved = [
        (owner, name, owner.__dict__.get(name, getattr(owner, name))) for owner, name, _ in patches
    ]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def load_target_metadata(config: Config) -> MetaData | None:
    """env.py's ``target_metadata``, or None when env.py cannot be run offline."""
    try:
        script = ScriptDirectory.from_config(config)
        env_path = Path(script.dir) / "env.py"
        if not env_path.is_file():
            return None
        probe = _MetadataProbe(config, script)
        search = [Path(script.dir), Path(script.dir).parent]
        saved = getattr(alembic.context, "_proxy", None)
        install_proxy(probe, EnvironmentContext)
        try:
            with no_connections(), tolerant_imports(lambda _name, _why: None, search):
                code = compile(env_path.read_text(encoding="utf-8"), str(env_path), "exec")
                exec(code, {"__file__": str(env_path), "__name__": "alembic_safety_env"})
        finally:
            clear_proxy(EnvironmentContext)
            if saved is not None:
                install_proxy(saved, EnvironmentContext)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None
    return _as_metadata(probe.captured)
