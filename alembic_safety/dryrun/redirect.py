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
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

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

    def __init__(
        self,
        throwaway: Throwaway | Sequence[Throwaway],
        urls: Mapping[str, Throwaway] | None = None,
    ) -> None:
        #: Every throwaway database of the run (several for a multidb env.py); the first is
        #: the default target.
        self.targets = [throwaway] if isinstance(throwaway, Throwaway) else list(throwaway)
        self.throwaway = self.targets[0]
        #: Configured URL (as rendered by :func:`_url_key`) → its throwaway database.
        self.urls = {_url_key(url): target for url, target in (urls or {}).items()}
        for target in self.targets:
            self.urls.setdefault(_url_key(target.url), target)
        #: Backend pids of every connection made through SQLAlchemy during the run.
        self.pids: set[int] = set()
        self.violation: GuardViolation | None = None
        #: True while the stand-ins redirect (they fall back to the originals afterwards).
        self.active = False
        #: Called with the pid of each new connection (the lock tracer follows it).
        self.on_pid: Callable[[int], None] | None = None

    # -- the guard ----------------------------------------------------------------------------

    def _violation(self, found: str) -> GuardViolation:
        names = ", ".join(repr(t.name) for t in self.targets)
        error = GuardViolation(
            f"dry run aborted: env.py connected to {found} instead of the throwaway database "
            f"{names}; nothing was run on it. Build the engine with "
            "sqlalchemy's create_engine/engine_from_config (or use "
            'config.attributes["connection"]) inside env.py so the dry run can redirect it'
        )
        if self.violation is None:
            self.violation = error
        return error

    def check_name(self, database: str | None) -> None:
        """Raise unless ``database`` is one of the throwaway databases."""
        if database not in {t.name for t in self.targets}:
            raise self._violation(f"database {database!r}" if database else "an unknown database")

    def target_of(self, database: str) -> Throwaway:
        """The throwaway database named ``database`` (checked with :meth:`check_name`)."""
        self.check_name(database)
        return next(t for t in self.targets if t.name == database)

    def sqlite_file(self, dbapi_connection: Any) -> str:
        """The main file of a SQLite DBAPI connection, as its throwaway name if it is one."""
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA database_list")
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except Exception as exc:
            raise self._violation(f"a database that is not SQLite ({exc})") from None
        path = next((str(row[2] or "") for row in rows if row[1] == "main"), "")
        for target in self.targets:
            if path and _same_file(path, target.name):
                return target.name
        return path or "an in-memory SQLite database"

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        if self.throwaway.is_sqlite:
            self.check_name(self.sqlite_file(dbapi_connection))
            return
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
        if self.throwaway.is_sqlite:
            self.check_name(self.sqlite_file(connection.connection.dbapi_connection))
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

        def target(given: Any) -> str:
            if len(self.targets) == 1:
                return self.throwaway.url
            found = self.urls.get(_url_key(given)) if given is not None else None
            if found is None:
                raise self._violation(
                    f"a URL no database section of the Alembic config names ({_redact(given)})"
                )
            return found.url

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
                settings[prefix + "url"] = target(settings.get(prefix + "url"))
                return original(settings, prefix, **scrub(kwargs))

            wrapped: Callable[..., Any] = from_config
        else:

            def create(_url: Any = None, *args: Any, **kwargs: Any) -> Any:
                if not self.active:
                    return original(_url, *args, **kwargs)
                return original(target(_url), *args, **scrub(kwargs))

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


def _url_key(url: Any) -> str:
    try:
        return make_url(url).render_as_string(hide_password=False)
    except Exception:
        return str(url)


def _redact(url: Any) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _unwrapped(function: Callable[..., Any]) -> Callable[..., Any]:
    """The original factory behind stand-ins left in place by earlier runs."""
    while hasattr(function, "_alembic_safety_original"):
        function = function._alembic_safety_original
    return function


@contextlib.contextmanager
def redirected(
    config: Config,
    throwaway: Throwaway | Sequence[Throwaway],
    connection: Connection | None = None,
    sections: Mapping[str, Throwaway] | None = None,
) -> Iterator[Redirect]:
    """Config options, ``attributes["connection"]``, factories and guard pointed at ``throwaway``.

    ``sections`` (a multidb env.py): ini section → its own throwaway database; each section's
    ``sqlalchemy.url`` names it while env.py runs, and engines built for the section's original
    URL are redirected to it.

    Everything is restored afterwards: the caller's Config can be used again as before.
    """
    sections = dict(sections or {})
    originals: dict[str, Throwaway] = {}
    for name, target in sections.items():
        if not config.file_config.has_section(name):
            raise UsageError(
                f"the Alembic config lists {name!r} in `databases` but has no [{name}] section"
            )
        try:
            url = config.get_section_option(name, "sqlalchemy.url")
        except Exception:  # an interpolation that cannot be resolved: env.py would fail too
            url = None
        if url:
            originals[url] = target
    redirect = Redirect(throwaway, originals)
    missing = object()
    section = config.config_ini_section
    # raw: the option may hold interpolations (%(here)s, %(DB_PASSWORD)s) that must come back
    saved: dict[str, str | None] = {
        name: (
            config.file_config.get(name, "sqlalchemy.url", raw=True, fallback=None)
            if config.file_config.has_section(name)
            else None
        )
        for name in [section, *sections]
    }
    saved_connection = config.attributes.get("connection", missing)
    config.set_main_option("sqlalchemy.url", redirect.throwaway.url.replace("%", "%%"))
    for name, target in sections.items():
        config.set_section_option(name, "sqlalchemy.url", target.url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    try:
        with redirect.patched():
            yield redirect
    finally:
        for name, value in saved.items():
            if value is None:
                if config.file_config.has_section(name):
                    config.file_config.remove_option(name, "sqlalchemy.url")
            else:
                config.file_config.set(name, "sqlalchemy.url", value)
        if saved_connection is missing:
            config.attributes.pop("connection", None)
        else:
            config.attributes["connection"] = saved_connection
    if redirect.violation is not None:
        raise redirect.violation
