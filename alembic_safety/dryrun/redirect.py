"""Make the user's env.py migrate the throwaway database, whatever way it finds its database.

env.py runs unchanged; real projects build their engine in many ways: from ``sqlalchemy.url``,
from application settings or an environment variable, async (``async_engine_from_config`` +
``run_sync``), one engine per database (the multidb template), or they take a connection from
``config.attributes["connection"]`` (the cookbook pattern for tests). So, while env.py runs:

1. ``config.attributes["connection"]`` holds a connection to the throwaway database, and the
   ``sqlalchemy.url`` main option names it;
2. SQLAlchemy's engine factories (``create_engine``, ``engine_from_config``,
   ``create_async_engine``, ``async_engine_from_config``) are replaced in the modules env.py
   imports them from, and build engines for the throwaway database whatever URL they are given;
3. as the final guard, every new DBAPI connection made by any engine is asked for
   ``current_database()``; anything but the throwaway database aborts the run before a statement
   is executed on it (the check also covers a connection handed to ``context.configure`` from an
   engine made before the run).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from alembic_safety.dryrun.databases import Throwaway
from alembic_safety.errors import UsageError

__all__ = ["GuardViolation", "Redirect", "redirected"]

#: (module, function) pairs replaced while env.py runs.
_FACTORIES: tuple[tuple[str, str], ...] = (
    ("sqlalchemy", "create_engine"),
    ("sqlalchemy.engine", "create_engine"),
    ("sqlalchemy.engine.create", "create_engine"),
    ("sqlalchemy", "engine_from_config"),
    ("sqlalchemy.engine", "engine_from_config"),
    ("sqlalchemy.engine.create", "engine_from_config"),
    ("sqlalchemy.ext.asyncio", "create_async_engine"),
    ("sqlalchemy.ext.asyncio.engine", "create_async_engine"),
    ("sqlalchemy.ext.asyncio", "async_engine_from_config"),
    ("sqlalchemy.ext.asyncio.engine", "async_engine_from_config"),
)
#: Engine options that would bypass the URL.
_BYPASS_OPTIONS = ("creator", "async_creator")


class GuardViolation(UsageError):
    """env.py reached a database other than the throwaway one: the run is aborted."""


class Redirect:
    """The throwaway target, plus what the guard saw (backend pids, a violation)."""

    def __init__(self, throwaway: Throwaway) -> None:
        self.throwaway = throwaway
        #: Backend pids of every connection made through SQLAlchemy during the run.
        self.pids: set[int] = set()
        self.violation: GuardViolation | None = None
        #: True while the stand-ins redirect (they fall back to the originals afterwards).
        self.active = False
        #: Called with the pid of each new connection (the lock tracer follows it).
        self.on_pid: Callable[[int], None] | None = None

    # -- the guard ----------------------------------------------------------------------------

    def _violation(self, found: str) -> GuardViolation:
        error = GuardViolation(
            f"dry run aborted: env.py connected to {found} instead of the throwaway database "
            f"{self.throwaway.name!r}; nothing was run on it. Build the engine with "
            "sqlalchemy's create_engine/engine_from_config (or use "
            'config.attributes["connection"]) inside env.py so the dry run can redirect it'
        )
        if self.violation is None:
            self.violation = error
        return error

    def check_name(self, database: str | None) -> None:
        """Raise unless ``database`` is the throwaway database."""
        if database != self.throwaway.name:
            raise self._violation(f"database {database!r}" if database else "an unknown database")

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT current_database(), pg_backend_pid()")
                name, pid = cursor.fetchone()
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            raise self._violation(f"a database that is not PostgreSQL ({exc})") from None
        self.check_name(str(name))
        self.pids.add(int(pid))
        if self.on_pid is not None:
            self.on_pid(int(pid))

    def check_connection(self, connection: Any) -> None:
        """Check a connection handed to ``context.configure`` (it may come from an old pool)."""
        if not isinstance(connection, Connection):
            return
        try:
            info = connection.connection.driver_connection.info  # type: ignore[union-attr]
            name, pid = info.dbname, info.backend_pid
        except AttributeError:
            return  # not psycopg: the connect event already checked it
        self.check_name(str(name))
        self.pids.add(int(pid))

    # -- engine factories ---------------------------------------------------------------------

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        """A stand-in for ``original`` that targets the throwaway database while the run lasts.

        A module imported during the run may keep a reference to the stand-in (``from
        sqlalchemy import create_engine``) after the run: then it behaves as the original.
        """
        url = self.throwaway.url

        def scrub(options: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in options.items() if k not in _BYPASS_OPTIONS}

        if name.endswith("from_config"):

            def from_config(
                configuration: dict[str, Any], prefix: str = "sqlalchemy.", **kwargs: Any
            ) -> Any:
                if not self.active:
                    return original(configuration, prefix, **kwargs)
                settings = {
                    k: v
                    for k, v in dict(configuration).items()
                    if k[len(prefix) :] not in _BYPASS_OPTIONS
                }
                settings[prefix + "url"] = url
                return original(settings, prefix, **scrub(kwargs))

            wrapped: Callable[..., Any] = from_config
        else:

            def create(_url: Any = None, *args: Any, **kwargs: Any) -> Any:
                if not self.active:
                    return original(_url, *args, **kwargs)
                return original(url, *args, **scrub(kwargs))

            wrapped = create
        wrapped.__name__ = name
        wrapped.__doc__ = original.__doc__
        wrapped._alembic_safety_original = original  # type: ignore[attr-defined]
        return wrapped

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Engine factories and the connect guard, for the duration of the ``with``."""
        saved: list[tuple[Any, str, Any]] = []
        wrappers: dict[str, Callable[..., Any]] = {}
        # Import every module first: one imported while others are patched would bind the
        # stand-in for good (sqlalchemy.ext.asyncio.engine imports create_engine by name).
        modules = []
        for module_name, name in _FACTORIES:
            try:
                modules.append((importlib.import_module(module_name), name))
            except ImportError:  # asyncio support needs greenlet: env.py cannot use it either
                continue
        try:
            for module, name in modules:
                current = getattr(module, name, None)
                if current is None:
                    continue
                if name not in wrappers:
                    wrappers[name] = self._wrap(name, _unwrapped(current))
                saved.append((module, name, current))
                setattr(module, name, wrappers[name])
            event.listen(Engine, "connect", self._on_connect)
            self.active = True
            yield
        finally:
            self.active = False
            with contextlib.suppress(Exception):
                event.remove(Engine, "connect", self._on_connect)
            for module, name, current in reversed(saved):
                setattr(module, name, current)


def _unwrapped(function: Callable[..., Any]) -> Callable[..., Any]:
    """The original factory behind stand-ins left in place by earlier runs."""
    while hasattr(function, "_alembic_safety_original"):
        function = function._alembic_safety_original
    return function


@contextlib.contextmanager
def redirected(
    config: Config, throwaway: Throwaway, connection: Connection | None = None
) -> Iterator[Redirect]:
    """Config options, ``attributes["connection"]``, factories and guard pointed at ``throwaway``.

    Everything is restored afterwards: the caller's Config can be used again as before.
    """
    redirect = Redirect(throwaway)
    missing = object()
    section = config.config_ini_section
    # raw: the option may hold interpolations (%(here)s, %(DB_PASSWORD)s) that must come back
    saved_url = (
        config.file_config.get(section, "sqlalchemy.url", raw=True, fallback=None)
        if config.file_config.has_section(section)
        else None
    )
    saved_connection = config.attributes.get("connection", missing)
    config.set_main_option("sqlalchemy.url", throwaway.url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    try:
        with redirect.patched():
            yield redirect
    finally:
        if saved_url is None:
            config.remove_main_option("sqlalchemy.url")
        else:
            config.file_config.set(section, "sqlalchemy.url", saved_url)
        if saved_connection is missing:
            config.attributes.pop("connection", None)
        else:
            config.attributes["connection"] = saved_connection
    if redirect.violation is not None:
        raise redirect.violation
