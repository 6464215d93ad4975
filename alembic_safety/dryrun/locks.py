"""Which locks a migration step takes, on which tables, and for how long.

A side connection samples ``pg_locks`` for the migrating backends every few milliseconds in a
thread while a step runs. Sampling alone misses short steps — on a seeded 100-row table a
``CREATE INDEX`` finishes in a millisecond — but locks taken in a transaction are held until it
commits, so the step's own connection also lists its locks once more just before the commit
(alembic's ``on_version_apply`` hook runs inside the step's transaction). Locks taken in an
``autocommit_block()`` are released statement by statement and are only seen by the sampler.

Per table the report keeps the strongest mode seen and how long it was seen held (first to
last sighting; a lock sighted only by the final listing shows as held ~0 ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from alembic_safety.dryrun.report import LockRecord

__all__ = ["LOCK_MODES", "PROBE_SQL", "LockTracer", "strongest"]

#: PostgreSQL table lock modes, weakest first.
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_RANK = {mode: rank for rank, mode in enumerate(LOCK_MODES)}

_COLUMNS = """l.relation::bigint, n.nspname, c.relname, l.mode
    FROM pg_locks l
    LEFT JOIN pg_class c ON c.oid = l.relation
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE l.locktype = 'relation' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND (c.oid IS NULL OR (c.relkind IN ('r', 'p', 'm')
           AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'))"""

#: The sampler's query (``pid = ANY(%s)``).
_SAMPLE_SQL = f"SELECT {_COLUMNS} AND l.pid = ANY(%s)"
#: The step's own listing, just before its commit (no parameters: safe for any paramstyle).
PROBE_SQL = f"SELECT {_COLUMNS} AND l.pid = pg_backend_pid()"


def strongest(modes: Iterable[str]) -> str:
    return max(modes, key=lambda mode: _RANK.get(mode, -1))


@dataclass
class _Sighting:
    name: str | None
    #: mode → [first seen, last seen] (perf_counter seconds)
    modes: dict[str, list[float]] = field(default_factory=dict)

    def see(self, mode: str, name: str | None, now: float) -> None:
        if name and not self.name:
            self.name = name
        span = self.modes.get(mode)
        if span is None:
            self.modes[mode] = [now, now]
        else:
            # Sightings can arrive out of order (the step's own listing takes its time before
            # the sampler's lock), so keep the earliest and the latest, never a negative span.
            span[0] = min(span[0], now)
            span[1] = max(span[1], now)


class LockTracer:
    """A sampling thread with its own connection; ``begin()``/``end()`` bracket each step."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], interval: float = 0.005
    ) -> None:
        self._connect = connect
        self.interval = interval
        self._pids: list[int] = []
        self._sightings: dict[int, _Sighting] = {}
        self._lock = threading.Lock()
        self._active = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._connection: psycopg.Connection[Any] | None = None
        self.error: str | None = None

    def __enter__(self) -> LockTracer:
        self._connection = self._connect()
        self._thread = threading.Thread(target=self._run, name="alembic-safety-locks", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._active.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._connection is not None:
            self._connection.close()

    def _run(self) -> None:
        assert self._connection is not None
        cursor = self._connection.cursor()
        while not self._closed:
            if not self._active.wait(0.2):
                continue
            with self._lock:
                if self._closed or not self._active.is_set() or not self._pids:
                    continue
                try:
                    rows = cursor.execute(_SAMPLE_SQL, (self._pids,), prepare=True).fetchall()
                except psycopg.Error as exc:  # the sampler must never break the run
                    self.error = str(exc)
                    self._active.clear()
                    continue
                self._record(rows, time.perf_counter())
            time.sleep(self.interval)

    def record(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Add sightings from the step's own listing (rows of ``PROBE_SQL``)."""
        now = time.perf_counter()
        with self._lock:
            self._record(rows, now)

    def _record(self, rows: Iterable[tuple[Any, ...]], now: float) -> None:
        """Add sightings (oid, schema, name, mode); the caller holds the lock."""
        for oid, schema, name, mode in rows:
            qualified = None
            if name is not None:
                qualified = name if schema in (None, "public") else f"{schema}.{name}"
            self._sightings.setdefault(int(oid), _Sighting(qualified)).see(mode, qualified, now)

    def begin(self, pids: Iterable[int]) -> None:
        with self._lock:
            self._sightings = {}
            self._pids = sorted(set(pids))
        self._active.set()

    def add_pid(self, pid: int) -> None:
        """A backend that connected during the step (a revision with its own engine)."""
        with self._lock:
            if pid not in self._pids:
                self._pids = sorted({*self._pids, pid})

    def stop(self) -> dict[int, _Sighting]:
        """Stop sampling (waiting for a sample in flight) and hand over the sightings."""
        self._active.clear()
        with self._lock:
            sightings, self._sightings = self._sightings, {}
        return sightings

    @staticmethod
    def summarise(
        sightings: Mapping[int, _Sighting],
        names: Mapping[int, str],
        *,
        new: Iterable[int] = (),
        exclude: Iterable[str] = (),
    ) -> list[LockRecord]:
        """The strongest lock per table (``names`` resolves oids of tables that are gone;
        ``new``: oids the step created; ``exclude``: names, e.g. the version table)."""
        fresh, skipped = set(new), set(exclude)
        records: list[LockRecord] = []
        for oid, sighting in sightings.items():
            name = sighting.name or names.get(oid)
            if name is None or name in skipped:  # unresolved: an index or toast table of a
                continue  # relation the step created (invisible to the sampler until commit)
            mode = strongest(sighting.modes)
            first, last = sighting.modes[mode]
            records.append(
                LockRecord(
                    relation=name, mode=mode, held_ms=(last - first) * 1000, new=oid in fresh
                )
            )
        records.sort(key=lambda r: (r.new, -_RANK.get(r.mode, -1), r.relation))
        return records
