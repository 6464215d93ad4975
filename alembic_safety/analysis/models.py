"""The project's models (env.py's ``target_metadata``), loaded without touching a database.

Rules that know the models can tell "dropping a column the application still maps" from a
drop of a column already removed from the code. env.py normally connects in online mode, so it
is run with an environment that reports *offline* mode, records what ``context.configure()`` is
given, and runs no migration. Failing application imports get stand-ins; any other failure
just means the models are unavailable.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import alembic.context
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

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
            with tolerant_imports(lambda _name, _why: None, search):
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
