"""Ground-truth harness: what does PostgreSQL *really* lock and rewrite?

The rules in ``alembic_safety`` make claims such as "``ADD COLUMN ... DEFAULT
random()`` rewrites the table under an ACCESS EXCLUSIVE lock". Those claims are
easy to get wrong from memory and they change between PostgreSQL versions, so
instead of trusting documentation we execute each statement on a real server
and look at two things the server cannot lie about:

* ``pg_locks`` for our own backend, which lists every relation lock the
  statement acquired (heavyweight locks are held until the end of the
  transaction -- the few that server code releases early are of no interest
  to a migration linter -- so reading them *after* the statement but
  *before* ``ROLLBACK`` sees all of them);
* ``pg_class.relfilenode`` of every user table, which changes exactly when the
  server writes the table out to a brand new file (a "rewrite": ``ALTER TYPE``
  with a non-binary-coercible cast, volatile defaults, ``VACUUM FULL``, ...,
  and also ``TRUNCATE``, which swaps in a fresh empty file).

Statements that refuse to run inside a transaction block (``CREATE INDEX
CONCURRENTLY``, ``VACUUM``, ...) cannot be inspected that way: they commit
internally and release their locks before control returns. For those,
:func:`observe` runs the statement in autocommit mode while a second
connection samples ``pg_locks`` for the first backend in a tight loop. On
its own that is a sample, not a proof: give the statement enough work (a
couple of hundred thousand rows) that it stays busy for many sampling
periods. Statements that wait for other transactions (every ``CONCURRENTLY``
variant) can be pinned instead with ``hold_sql``: a third session they must
wait for, released only after the sampler has seen them waiting. That makes
the observation deterministic even for the milliseconds-long ``DROP INDEX
CONCURRENTLY``, which plain sampling misses on a small table.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = [
    "LOCK_MODES",
    "Observation",
    "observe",
    "scratch_database",
    "strongest",
]

#: Table-level lock modes from weakest to strongest. Each mode conflicts with
#: a superset of what the previous one conflicts with, so the position in this
#: tuple is a total order of "how much traffic does this block" -- which is the
#: only thing a migration linter cares about.
LOCK_MODES: tuple[str, ...] = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

# Relations that live in these schemas are the server's own bookkeeping
# (catalog reads by the statement itself, by our pg_locks query, TOAST tables
# that merely follow their parent). Reporting them would make observations
# noisy and version dependent without telling a rule author anything.
_USER_NAMESPACE_FILTER = "n.nspname <> 'information_schema' AND NOT starts_with(n.nspname, 'pg_')"

# Every relation in a user schema, any relkind (tables, indexes, sequences,
# ...). Taken *before* the statement so that locks on relations the statement
# drops or renames can still be reported under the name the caller knows.
_RELATIONS_SQL = f"""
SELECT c.oid::bigint, c.relname, c.relkind::text, c.relfilenode::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_NAMESPACE_FILTER}
"""

# The relation locks held by one backend. LEFT JOINs because a relation the
# statement dropped has no pg_class row any more (in our transaction) but its
# lock is still there and still matters. ``granted`` only: a waiting request
# is not a lock the statement holds.
_LOCKS_SQL = f"""
SELECT l.relation::bigint, l.mode, c.relname,
       (n.oid IS NOT NULL AND {_USER_NAMESPACE_FILTER}) AS is_user
FROM pg_locks l
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s AND l.locktype = 'relation' AND l.granted
"""

# Upper bound for any lock wait, so that a stray session holding a lock on the
# scratch database makes a test fail quickly instead of hanging the suite.
_LOCK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Observation:
    """What one statement did on the server.

    ``locks`` maps relation name (tables *and* indexes, sequences, ...; the
    name the relation had before the statement, so ``RENAME TO`` and ``DROP``
    are reported under the old name) to the lock modes our backend held on
    it. ``rewritten`` names the tables (relkind ``r``/``p``) whose
    ``relfilenode`` changed. ``error`` is ``"SQLSTATE: message"`` when the
    statement failed, in which case ``locks`` is empty (an aborted
    transaction cannot be queried) and ``rewritten`` is empty.
    """

    locks: dict[str, frozenset[str]]
    rewritten: frozenset[str]
    error: str | None


@dataclass(frozen=True)
class _Relation:
    """One row of the pre-statement pg_class snapshot."""

    name: str
    relkind: str
    relfilenode: int


def strongest(modes: Iterable[str]) -> str | None:
    """Return the most restrictive mode in ``modes`` (None when empty).

    A relation often carries several modes at once (e.g. ``ADD FOREIGN KEY``
    holds ``ShareRowExclusiveLock`` *and* the ``AccessShareLock`` of its
    validation scan); what blocks concurrent traffic is the strongest one.
    """
    known = [m for m in modes if m in LOCK_MODES]
    if not known:
        return None
    return max(known, key=LOCK_MODES.index)


def _snapshot(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, _Relation]:
    """Map oid -> relation for every relation in a user schema."""
    result: dict[int, _Relation] = {}
    for oid, name, relkind, relfilenode in conn.execute(_RELATIONS_SQL).fetchall():
        assert isinstance(oid, int)
        assert isinstance(name, str)
        assert isinstance(relkind, str)
        assert isinstance(relfilenode, int)
        result[oid] = _Relation(name, relkind, relfilenode)
    return result


def _sample_locks(
    conn: psycopg.Connection[tuple[object, ...]],
    pid: int,
    before: dict[int, _Relation],
    into: dict[str, set[str]],
) -> None:
    """Add the relation locks ``pid`` holds right now to ``into``.

    Names come from the pre-statement snapshot when possible (stable across
    RENAME/DROP); relations the statement created are named from pg_class.
    Locks whose relation has no name at all -- the transient ``pg_temp_<oid>``
    heap a rewrite builds and drops again -- are skipped: their oid is random,
    and keeping them would make observations non-deterministic.
    """
    for oid, mode, relname, is_user in conn.execute(_LOCKS_SQL, (pid,)).fetchall():
        assert isinstance(oid, int)
        assert isinstance(mode, str)
        if oid in before:
            name = before[oid].name
        elif isinstance(relname, str) and is_user is True:
            name = relname
        else:
            continue
        into.setdefault(name, set()).add(mode)


def _rewritten(
    conn: psycopg.Connection[tuple[object, ...]], before: dict[int, _Relation]
) -> frozenset[str]:
    """Tables whose relfilenode differs from the snapshot ``before``.

    Compared by oid so a renamed table is still matched with itself; a table
    that no longer exists (DROP) is not a rewrite.
    """
    after = _snapshot(conn)
    return frozenset(
        rel.name
        for oid, rel in before.items()
        if rel.relkind in ("r", "p") and oid in after and after[oid].relfilenode != rel.relfilenode
    )


def _describe(exc: psycopg.Error) -> str:
    """Render a server error as ``"SQLSTATE: primary message"``."""
    message = exc.diag.message_primary or str(exc)
    return f"{exc.sqlstate}: {message}"


def _freeze(locks: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    """Make the lock map immutable and name-ordered, so reprs in failing
    assertions are stable from run to run."""
    return {name: frozenset(modes) for name, modes in sorted(locks.items())}


def _connect(conninfo: str) -> psycopg.Connection[tuple[object, ...]]:
    """Open an autocommit connection with a bounded lock wait."""
    conn: psycopg.Connection[tuple[object, ...]] = psycopg.connect(conninfo, autocommit=True)
    conn.execute(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
    return conn


def observe(
    conninfo: str,
    setup_sql: str,
    statement: str,
    *,
    in_transaction: bool = True,
    hold_sql: str | None = None,
) -> Observation:
    """Run ``statement`` after ``setup_sql`` and report its locks and rewrites.

    ``setup_sql`` runs committed, in autocommit mode, on the same session as
    the statement (so session settings such as ``SET timezone`` apply to it).
    With ``in_transaction`` (the default) the statement runs between
    ``BEGIN`` and ``ROLLBACK``; the result is exact and deterministic and the
    database is left as the setup made it. Without it the statement runs in
    autocommit mode -- required for ``CONCURRENTLY`` and ``VACUUM`` -- its
    effects are committed, and ``locks`` is whatever a concurrent sampler saw
    while it ran (see the module docstring).

    ``hold_sql`` (autocommit mode only) makes that sample deterministic for
    statements that wait for other transactions, as every ``CONCURRENTLY``
    variant does: it runs on a third session inside an open ``REPEATABLE
    READ`` transaction (so it holds its locks *and* a snapshot), the
    statement eventually waits for that transaction while holding its own
    locks, the sampler records them, and only then is the third session
    rolled back. ``SELECT count(*) FROM t`` is enough for ``CREATE/DROP INDEX
    CONCURRENTLY`` and ``REINDEX CONCURRENTLY`` on ``t``. If the statement
    finishes without ever waiting for it, :class:`RuntimeError` is raised,
    because the observation would then be a matter of luck again.
    """
    if in_transaction and hold_sql is not None:
        raise ValueError("hold_sql only makes sense with in_transaction=False")
    with _connect(conninfo) as conn:
        if setup_sql.strip():
            conn.execute(setup_sql)
        before = _snapshot(conn)
        if in_transaction:
            return _observe_in_transaction(conn, before, statement)
        return _observe_autocommit(conn, conninfo, before, statement, hold_sql)


def _observe_in_transaction(
    conn: psycopg.Connection[tuple[object, ...]],
    before: dict[int, _Relation],
    statement: str,
) -> Observation:
    """BEGIN; statement; read pg_locks and relfilenodes; ROLLBACK."""
    conn.execute("BEGIN")
    try:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return Observation(locks={}, rewritten=frozenset(), error=_describe(exc))
        pid = conn.info.backend_pid
        locks: dict[str, set[str]] = {}
        _sample_locks(conn, pid, before, locks)
        return Observation(locks=_freeze(locks), rewritten=_rewritten(conn, before), error=None)
    finally:
        conn.execute("ROLLBACK")


def _observe_autocommit(
    conn: psycopg.Connection[tuple[object, ...]],
    conninfo: str,
    before: dict[int, _Relation],
    statement: str,
    hold_sql: str | None,
) -> Observation:
    """Run ``statement`` in autocommit while another session samples its locks."""
    sampler = _LockSampler(conninfo, conn.info.backend_pid, before, hold_sql)
    sampler.start()
    sampler.ready.wait()
    error: str | None = None
    try:
        if sampler.failure is None:
            conn.execute(statement)
    except psycopg.Error as exc:
        error = _describe(exc)
    finally:
        sampler.done.set()
        sampler.join()
    if sampler.failure is not None:
        raise sampler.failure
    if hold_sql is not None and error is None and not sampler.released:
        raise RuntimeError(
            f"{statement!r} never waited for hold_sql {hold_sql!r}; "
            "its locks were sampled by chance, not deterministically"
        )
    rewritten = frozenset[str]() if error else _rewritten(conn, before)
    return Observation(locks=_freeze(sampler.locks), rewritten=rewritten, error=error)


class _LockSampler(threading.Thread):
    """Poll pg_locks for another backend until told to stop.

    No sleep between polls: without ``hold_sql``, statements such as ``DROP
    INDEX CONCURRENTLY`` hold their locks for only milliseconds, and each poll
    is already a round trip to the server, which is slow enough not to starve
    it. With ``hold_sql`` the sampler also owns the holding session and
    releases it once it has sampled the statement blocked behind it.
    """

    def __init__(
        self, conninfo: str, pid: int, before: dict[int, _Relation], hold_sql: str | None
    ) -> None:
        super().__init__(name=f"pgfacts-sampler-{pid}", daemon=True)
        self.conninfo = conninfo
        self.pid = pid
        self.before = before
        self.hold_sql = hold_sql
        self.locks: dict[str, set[str]] = {}
        self.ready = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.released = False

    def run(self) -> None:
        try:
            with _connect(self.conninfo) as conn:
                if self.hold_sql is None:
                    self.ready.set()
                    self._poll(conn, None)
                else:
                    with _connect(self.conninfo) as holder:
                        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                        holder.execute(self.hold_sql)
                        self.ready.set()
                        self._poll(conn, holder)
        except BaseException as exc:  # re-raised in the observing thread
            self.failure = exc
        finally:
            self.ready.set()

    def _poll(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        holder: psycopg.Connection[tuple[object, ...]] | None,
    ) -> None:
        blocked_sql = "SELECT %s = ANY(pg_blocking_pids(%s))"
        while not self.done.is_set():
            _sample_locks(conn, self.pid, self.before, self.locks)
            if holder is None or self.released:
                continue
            row = conn.execute(blocked_sql, (holder.info.backend_pid, self.pid)).fetchone()
            if row is not None and row[0] is True:
                # The statement cannot move until the holder goes away, so
                # this sample is guaranteed to see what it holds while waiting.
                _sample_locks(conn, self.pid, self.before, self.locks)
                holder.execute("ROLLBACK")
                self.released = True


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    """Create a throw-away database and yield a conninfo string for it.

    The lock facts are gathered by creating, altering and dropping tables, so
    they must never run in a database anyone cares about. The name is random
    (``alembic_safety_test_<hex>``) so parallel runs do not collide, and the
    database is dropped ``WITH (FORCE)`` even if a test left a session behind
    (e.g. a sampler thread that died mid-poll).
    """
    name = f"alembic_safety_test_{secrets.token_hex(6)}"
    ident = sql.Identifier(name)
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield make_conninfo(base_url, dbname=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
