"""The stairway: for every revision, seed → upgrade → downgrade → re-upgrade, checking each step.

The user's env.py runs once, unchanged, and the stairway is its migration function: instead of
the list of steps ``alembic upgrade`` would compute, env.py's ``context.run_migrations()``
iterates a generator that yields alembic's own ``RevisionStep`` objects one at a time — up,
down, up again for each revision, in topological order — and does its own work between them
(seeding, snapshots, lock tracing). One env.py run, one migration connection, one engine: a
stairway costs about what three plain ``alembic upgrade/downgrade`` runs cost, not one env.py
start-up per step.

Each step must be its own transaction so that the tool's side connection sees its result and
its locks are released before the next step: ``transaction_per_migration`` is forced on (what
``alembic upgrade <rev>`` revision by revision would do). That is also what makes
``autocommit_block()`` work, which breaks in tools that wrap the whole run in one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import psycopg
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError, to_tuple
from psycopg import sql as psql
from sqlalchemy import create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from alembic_safety.dryrun.databases import Throwaway
from alembic_safety.dryrun.locks import PROBE_SQL, LockTracer
from alembic_safety.dryrun.redirect import Redirect, redirected
from alembic_safety.dryrun.report import (
    DryRunReport,
    Estimate,
    Failure,
    RevisionResult,
    StepName,
)
from alembic_safety.dryrun.seeding import Seeder
from alembic_safety.dryrun.snapshot import (
    Fingerprint,
    Snapshot,
    diff_schemas,
    fingerprints,
    table_state,
    take_inspector_snapshot,
    take_snapshot,
)
from alembic_safety.errors import UsageError
from alembic_safety.loading import parse_revision_range

__all__ = ["BLOCKING_MODES", "Progress", "StairwayOptions", "blocked_tables", "run_stairway"]

#: The locks the dry run reports as blocking: ACCESS EXCLUSIVE (most DDL: blocks reads and
#: writes) and SHARE (an index build: blocks writes). SHARE ROW EXCLUSIVE, which a new foreign
#: key takes on the table it references, is held for milliseconds and is left out.
BLOCKING_MODES = frozenset({"ShareLock", "AccessExclusiveLock"})


def blocked_tables(result: RevisionResult) -> list[str]:
    """Tables that existed before the revision whose writes its upgrade blocked, or which it
    rewrote."""
    names = {lock.relation for lock in result.locks if not lock.new and lock.mode in BLOCKING_MODES}
    return sorted(names | set(result.rewritten))


#: alembic's per-step INFO lines ("Running upgrade a -> b") would drown the report.
_QUIET_LOGGERS = ("alembic.runtime.migration",)


@dataclass
class StairwayOptions:
    rows: int = 100
    rows_per_table: dict[str, int] = field(default_factory=dict)
    revision_range: str | None = None
    #: Only check revisions after this one (earlier ones are applied without checks).
    since: str | None = None
    trace_locks: bool = True
    lock_interval: float = 0.005
    #: Time revisions that block writes on an existing table again at this many times the
    #: seeded rows, for the duration estimate (0: off).
    scale_factor: int = 10


class Progress:
    """``dry run 12/200 abc123 upgrade`` on one line of an interactive terminal; silent in CI."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(stream is not None and isatty and isatty() and not os.environ.get("CI"))
        self.shown = False

    def __call__(self, done: int, total: int, revision: str, step: str) -> None:
        if not self.enabled or self.stream is None:
            return
        self.shown = True
        self.stream.write(f"\r\033[Kdry run {done}/{total} {revision} {step}")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown and self.stream is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


# -- failures ---------------------------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _in_autocommit_block(exc: BaseException) -> bool:
    """alembic's assertion when ``autocommit_block()`` meets a transaction it did not begin."""
    frames = traceback.extract_tb(exc.__traceback__)
    return (
        isinstance(exc, AssertionError)
        and bool(frames)
        and frames[-1].name == "autocommit_block"
        and "alembic" in frames[-1].filename
    )


def describe_error(exc: BaseException, step: StepName, path: str | None) -> Failure:
    """The statement, SQLSTATE, PostgreSQL message and revision line of a failed step."""
    statement = None
    original: BaseException = exc
    if isinstance(exc, sa_exc.StatementError):
        statement = exc.statement
        original = exc.orig or exc
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate:
        diag = getattr(original, "diag", None)
        text = str(original).strip()
        message = getattr(diag, "message_primary", None) or (
            text.splitlines()[0] if text else type(original).__name__
        )
        detail = getattr(diag, "message_detail", None)
        if detail:
            message = f"{message} ({detail})"
    elif _in_autocommit_block(exc):
        message = (
            "autocommit_block() cannot run inside a transaction env.py began itself (as with "
            "`with engine.begin() as connection:`); use `engine.connect()` and "
            "`context.begin_transaction()` in env.py"
        )
    else:
        lines = str(original).strip().splitlines()
        message = f"{type(original).__name__}: {lines[0]}" if lines else type(original).__name__
    line = None
    if path:
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename and _same_file(frame.filename, path):
                line = frame.lineno
    return Failure(
        step=step,
        kind="error",
        message=message,
        sqlstate=str(sqlstate) if sqlstate else None,
        statement=statement,
        file=path,
        line=line,
    )


# -- ordering ---------------------------------------------------------------------------------


def _ordered(script: ScriptDirectory) -> list[Script]:
    """Every revision, base first, each after all of its down revisions and dependencies."""
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _selected(
    script: ScriptDirectory, revision_range: str | None, since: str | None = None
) -> set[str] | None:
    if since:
        if revision_range:
            raise UsageError("give either since or a revision range, not both")
        try:
            start = script.revision_map.get_revision(since)
        except Exception as exc:  # alembic raises several error types for unknown revisions
            raise UsageError(f"since {since!r}: {exc}") from None
        if start is None:  # "base": everything
            return None
        # REV:heads is inclusive; REV itself is already on the base branch.
        chosen = _selected(script, f"{start.revision}:heads") or set()
        chosen.discard(start.revision)
        return chosen
    if not revision_range:
        return None
    lower, upper = parse_revision_range(revision_range)
    try:
        revisions = script.revision_map.iterate_revisions(
            upper, lower, inclusive=True, assert_relative_length=False
        )
        return {r.revision for r in revisions}
    except Exception as exc:  # alembic raises several error types for bad ranges
        raise UsageError(f"revision range {revision_range!r}: {exc}") from None


# -- the environment ---------------------------------------------------------------------------


def _environment(
    config: Config, script: ScriptDirectory, stairway: _Stairway
) -> EnvironmentContext:
    """env.py's ``context``, with ``configure`` forcing per-step transactions, adding our hook
    after each step and checking the connection it is given.

    (An instance attribute, not a subclass: alembic's module proxy only serves the class it was
    built for.)
    """
    environment = EnvironmentContext(
        config, script, fn=stairway.steps, as_sql=False, destination_rev="heads"
    )
    original = environment.configure

    def configure(
        connection: Connection | None = None, url: Any = None, *args: Any, **kw: Any
    ) -> None:
        if connection is not None:
            stairway.redirect.check_connection(connection)
        kw["transaction_per_migration"] = True
        callbacks = to_tuple(kw.get("on_version_apply"), default=())
        kw["on_version_apply"] = (*callbacks, stairway.after_step)
        original(connection, url, *args, **kw)

    environment.configure = configure  # type: ignore[method-assign]
    return environment


class _Stairway:
    """State of one run; ``steps`` is the migration function env.py iterates."""

    def __init__(
        self,
        script: ScriptDirectory,
        tools: Mapping[str, Any],
        redirect: Redirect,
        tracers: Mapping[str, LockTracer],
        options: StairwayOptions,
        report: DryRunReport,
        progress: Callable[[int, int, str, str], None],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.script = script
        #: Per throwaway database (by name): the tool's side connection (psycopg, autocommit;
        #: for SQLite a SQLAlchemy engine), the lock tracer and the engine name (multidb).
        self.tools = dict(tools)
        self.tracers = dict(tracers)
        self.labels = dict(labels or {})
        self.sqlite = redirect.throwaway.is_sqlite
        first = redirect.throwaway.name
        self.tool: Any = self.tools[first]
        self.tracer: LockTracer | None = self.tracers.get(first)
        #: The engine name of the database migrated now (multidb), else None.
        self.label: str | None = self.labels.get(first)
        #: Databases migrated so far, in order; the first pass fills the report.
        self.migrated: list[str] = []
        self.redirect = redirect
        self.options = options
        self.report = report
        self.progress = progress
        self.seeder = Seeder(options.rows, options.rows_per_table)
        self.started = False
        #: The step running now (None between steps): failures inside it belong to it.
        self.current: tuple[RevisionResult, StepName] | None = None
        self.tracing = False
        self.exclude: set[tuple[str, str]] = set()
        self.exclude_tables: set[str] = set()
        self.version_table = "alembic_version"
        self.pids: set[int] = set()
        self.context: MigrationContext | None = None
        #: env.py runs the migrations inside a transaction of its own.
        self.external = False
        self.step_started = 0.0

    # called by alembic inside each step's transaction, just before its commit
    def after_step(self, *, ctx: MigrationContext, **_kw: Any) -> None:
        connection = ctx.connection
        if connection is None:
            return
        if self.tracing and self.tracer is not None:
            rows = connection.exec_driver_sql(PROBE_SQL).fetchall()
            self.tracer.record([tuple(row) for row in rows])
        if self.external:
            self._commit(connection)

    def _commit(self, connection: Connection) -> None:
        if self.external:
            dbapi = connection.connection.dbapi_connection
            if dbapi is not None:
                dbapi.commit()
        else:
            connection.commit()

    def _step(
        self, result: RevisionResult, step_name: StepName, step: MigrationStep
    ) -> Iterator[MigrationStep]:
        """Yield one step to alembic and time it. A failing step ends alembic's loop (this
        generator is never resumed): ``current`` then tells which step it was."""
        self.current = (result, step_name)
        if self.context is not None:
            # alembic remembers the enums it created for as long as its DDL runner lives (one
            # ``alembic upgrade``); each step here stands for a command of its own.
            self.context.impl.memo.clear()
        started = self.step_started = time.perf_counter()
        yield step
        elapsed = (time.perf_counter() - started) * 1000
        self.current = None
        if step_name == "upgrade":
            result.upgrade, result.upgrade_ms = "passed", _add(result.upgrade_ms, elapsed)
        elif step_name == "downgrade":
            result.downgrade, result.downgrade_ms = "passed", _add(result.downgrade_ms, elapsed)
        else:
            result.reupgrade, result.reupgrade_ms = "passed", _add(result.reupgrade_ms, elapsed)

    @property
    def first_pass(self) -> bool:
        return len(self.migrated) <= 1

    def _label(self, text: str) -> str:
        """``engine2: text`` for a multidb env.py, else ``text``."""
        return f"{self.label}: {text}" if self.label else text

    def _name(self, table: str) -> str:
        """``engine2:orders`` for a multidb env.py, else ``orders``."""
        return f"{self.label}:{table}" if self.label else table

    def _snapshot(self) -> Snapshot:
        if self.sqlite:
            with self.tool.connect() as connection:
                return take_inspector_snapshot(connection, self.exclude_tables)
        return take_snapshot(self.tool, self.exclude)

    def steps(self, heads: Sequence[str], ctx: MigrationContext) -> Iterator[MigrationStep]:
        connection = ctx.connection
        assert connection is not None
        pid = None
        if self.sqlite:
            name = self.redirect.sqlite_file(connection.connection.dbapi_connection)
        else:
            name, pid = connection.exec_driver_sql(
                "SELECT current_database(), pg_backend_pid()"
            ).one()
        target = self.redirect.target_of(str(name))
        if target.name in self.migrated:
            raise UsageError(
                "env.py ran the migrations more than once on the same database: the dry run "
                "supports env.py files that migrate each database once (one engine, or the "
                "multidb template's one engine per `databases` entry)"
            )
        self.migrated.append(target.name)
        self.started = True
        self.context = ctx
        self.tool = self.tools[target.name]
        self.tracer = self.tracers.get(target.name)
        self.label = self.labels.get(target.name)
        if heads:
            raise UsageError(f"the throwaway database is not empty (at {', '.join(heads)})")
        self.pids = {int(pid)} if pid is not None else set()
        self.version_table = ctx.version_table
        self.exclude = {(ctx.version_table_schema or "public", ctx.version_table)}
        self.exclude_tables = {ctx.version_table}
        # env.py may have begun the transaction itself (``with engine.begin() as connection``):
        # alembic then never commits, and that transaction cannot be ended without breaking
        # env.py's ``with`` block, so each step is committed underneath it, on the DBAPI level.
        self.external = bool(ctx._in_external_transaction)
        self._commit(connection)  # the version table, so the side connection sees it
        yield from self._walk()

    def _walk(self) -> Iterator[MigrationStep]:
        rmap = self.script.revision_map
        ordered = _ordered(self.script)
        selected = _selected(self.script, self.options.revision_range, self.options.since)
        chosen = [s for s in ordered if selected is None or s.revision in selected]
        earlier = {r.revision: r for r in self.report.revisions}
        if self.first_pass:
            self.report.selected = len(chosen)
        elif self.report.failed is not None:
            return  # the revision failed on an earlier engine: nothing more to learn here
        remaining = len(chosen)
        for script in ordered:
            if remaining == 0:
                return
            up = MigrationStep.upgrade_from_script(rmap, script)
            if selected is not None and script.revision not in selected:
                if self.context is not None:
                    self.context.impl.memo.clear()
                yield up  # before the range: just bring the schema there
                continue
            remaining -= 1
            if self.first_pass:
                result = RevisionResult(
                    revision=script.revision,
                    path=script.path,
                    down_revisions=tuple(script._normalized_down_revisions),
                )
                self.report.revisions.append(result)
            else:
                # a step passes when it passed on every engine
                result = earlier[script.revision]
                result.upgrade = result.downgrade = result.reupgrade = "not run"
            yield from self._revision(script, result, up)
            if result.error is not None:
                return

    def _revision(
        self, script: Script, result: RevisionResult, up: MigrationStep
    ) -> Iterator[MigrationStep]:
        done, total = len(self.report.revisions), self.report.selected
        progress = self.progress
        before = self._snapshot()
        prints: dict[str, Fingerprint] = {}
        if self.seeder.enabled and not self.sqlite:
            progress(done, total, script.revision, "seeding")
            seeded = self.seeder.seed(self.tool, before)
            result.rows_seeded.update({self._name(k): v for k, v in seeded.inserted.items()})
            result.seed_notes.extend(self._label(note) for note in seeded.notes)
            prints = {
                key: value
                for key, value in fingerprints(self.tool, before.tables.values()).items()
                if value.rows
            }
        # upgrade, traced
        progress(done, total, script.revision, "upgrade")
        filenodes = {t.oid: t.filenode for t in before.tables.values()}
        names = {t.oid: t.key for t in before.tables.values()}
        if self.tracer is not None:
            self.tracer.begin(self.pids | self.redirect.pids)
            self.tracing = True
        yield from self._step(result, "upgrade", up)
        self.tracing = False
        sightings = self.tracer.stop() if self.tracer is not None else {}
        tables, invalid = ({}, []) if self.sqlite else table_state(self.tool)
        if self.tracer is not None:
            locks = self.tracer.summarise(
                sightings,
                names,
                new=[oid for oid in tables if oid not in filenodes],
                exclude=[self.version_table],
            )
            for lock in locks:
                lock.relation = self._name(lock.relation)
            result.locks.extend(locks)
        result.rewritten.extend(
            sorted(
                self._name(name)
                for oid, (name, node) in tables.items()
                if oid in filenodes and filenodes[oid] != node
            )
        )
        if invalid:
            result.upgrade = "failed"
            result.error = _invalid_index_failure(invalid, script.path)
            return
        # downgrade: back to the schema (and rows) from before the upgrade
        progress(done, total, script.revision, "downgrade")
        yield from self._step(
            result,
            "downgrade",
            MigrationStep.downgrade_from_script(self.script.revision_map, script),
        )
        after = self._snapshot()
        result.data_loss.extend(self._label(n) for n in self._data_loss(prints, before, after))
        diff = [self._label(line) for line in diff_schemas(before, after)]
        if diff:
            result.schema_diff = diff
            result.downgrade = "failed"
            more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
            result.error = Failure(
                step="downgrade",
                kind="schema",
                message=f"the downgrade did not restore the schema: {diff[0]}{more}",
                file=script.path,
            )
            return
        progress(done, total, script.revision, "re-upgrade")
        yield from self._step(result, "re-upgrade", up)
        if result.passed and self.first_pass and not self.sqlite and not self.labels:
            yield from self._scaled(script, result, up)

    def _scaled(
        self, script: Script, result: RevisionResult, up: MigrationStep
    ) -> Iterator[MigrationStep]:
        """For the duration estimate: when the upgrade blocked writes on (or rewrote) a table that
        existed before it, time it once more on more rows (downgrade, top the tables up by
        ``scale_factor - 1`` times their seeded rows, upgrade). The tables keep those rows
        afterwards; every sample counts the rows it really ran on."""
        factor = self.options.scale_factor
        tables = blocked_tables(result)
        if factor <= 1 or not tables or not self.seeder.enabled or result.reupgrade_ms is None:
            return
        counts = self._count(tables)
        if not counts:
            return
        estimate = Estimate(
            tables=sorted(counts), samples=[(sum(counts.values()), result.reupgrade_ms)]
        )
        result.estimate = estimate
        done, total = len(self.report.revisions), self.report.selected
        self.progress(done, total, script.revision, f"downgrade (x{factor} rows)")
        self.current = (result, "downgrade")
        if self.context is not None:
            self.context.impl.memo.clear()
        yield MigrationStep.downgrade_from_script(self.script.revision_map, script)
        self.current = None
        # Top the tables up by (factor - 1) times their seeded rows: on the first measurement
        # they grow to factor times the seeded size; tables measured again (by a later
        # revision) grow by the same number of rows each time, never geometrically.
        seeder = self.seeder
        saved = seeder.rows, seeder.rows_per_table
        grown = {
            table: count + (factor - 1) * saved[1].get(table, saved[0])
            for table, count in counts.items()
        }
        seeder.rows_per_table = {**saved[1], **grown}
        try:
            seeder.seed(self.tool, take_snapshot(self.tool, self.exclude))
        finally:
            seeder.rows, seeder.rows_per_table = saved
        self.progress(done, total, script.revision, f"upgrade (x{factor} rows)")
        self.current = (result, "re-upgrade")
        if self.context is not None:
            self.context.impl.memo.clear()
        started = self.step_started = time.perf_counter()
        yield up
        elapsed = (time.perf_counter() - started) * 1000
        self.current = None
        counts = self._count(estimate.tables)
        if len(counts) == len(estimate.tables):
            estimate.samples.append((sum(counts.values()), elapsed))

    def _count(self, tables: Sequence[str]) -> dict[str, int]:
        """Rows in each table that exists (``t`` or ``schema.t``)."""
        counts: dict[str, int] = {}
        for table in tables:
            try:
                row = self.tool.execute(
                    psql.SQL("SELECT count(*) FROM {}").format(
                        psql.Identifier(*table.split(".", 1))
                    )
                ).fetchone()
            except psycopg.Error:
                continue
            counts[table] = int(row[0]) if row else 0
        return counts

    def _data_loss(
        self, prints: dict[str, Fingerprint], before: Snapshot, after: Snapshot
    ) -> list[str]:
        notes: list[str] = []
        if not prints:
            return notes
        present = {key: table for key, table in after.tables.items() if key in prints}
        columns = {key: prints[key].columns for key in present}
        now = fingerprints(self.tool, present.values(), columns)
        for key, old in prints.items():
            new = now.get(key)
            if key not in after.tables:
                notes.append(f"{key}: all {old.rows} rows gone (the table is missing)")
            elif new is None:
                kept = {c.name for c in after.tables[key].columns}
                lost = [c for c in old.columns if c not in kept]
                notes.append(f"{key}: values of {', '.join(lost) or 'some columns'} lost")
            elif new.rows < old.rows:
                notes.append(f"{key}: {old.rows - new.rows} of {old.rows} rows lost")
            elif new.rows > old.rows:
                notes.append(f"{key}: {new.rows - old.rows} rows more than before the upgrade")
            elif new.digest != old.digest:
                notes.append(f"{key}: values changed (same {old.rows} rows)")
        return notes


def _add(total: float | None, elapsed: float) -> float:
    return elapsed if total is None else total + elapsed


def _invalid_index_failure(invalid: Sequence[str], path: str | None) -> Failure:
    names = ", ".join(invalid)
    return Failure(
        step="upgrade",
        kind="invalid-index",
        message=(
            f"INVALID index left behind: {names} (a failed CREATE INDEX CONCURRENTLY; it slows "
            "writes and serves no reads — drop it and build it again)"
        ),
        file=path,
    )


def run_stairway(
    config: Config,
    throwaway: Throwaway | Sequence[Throwaway],
    report: DryRunReport,
    options: StairwayOptions,
    progress: Callable[[int, int, str, str], None] = lambda *_: None,
    *,
    engines: Sequence[str] = (),
) -> None:
    """Run every selected revision's stairway on ``throwaway``, filling ``report`` as it goes.

    A multidb env.py: ``engines`` names the ini sections (``databases = engine1, engine2``)
    and ``throwaway`` holds one database per engine, in the same order.

    Returns normally when a revision failed (the report says which); raises UsageError for
    environment problems and lets KeyboardInterrupt/Terminated through.
    """
    targets = [throwaway] if isinstance(throwaway, Throwaway) else list(throwaway)
    sections = dict(zip(engines, targets, strict=True)) if engines else {}
    try:
        script = ScriptDirectory.from_config(config)
        script.revision_map.heads  # noqa: B018 - load every revision now: errors are usage errors
    except CommandError as exc:
        raise UsageError(f"alembic configuration: {exc}") from None
    quiet = _QuietFilter()
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    sqlite = targets[0].is_sqlite
    engine = create_engine(targets[0].url, poolclass=NullPool)
    tools: dict[str, Any] = {}
    try:
        for target in targets:
            tools[target.name] = (
                create_engine(target.url, poolclass=NullPool) if sqlite else target.connect()
            )
        for logger in loggers:
            logger.addFilter(quiet)
        with contextlib.ExitStack() as stack:
            connection = stack.enter_context(engine.connect())
            tracers = {
                target.name: stack.enter_context(LockTracer(target.connect, options.lock_interval))
                for target in targets
                if options.trace_locks and not sqlite
            }
            redirect = stack.enter_context(
                redirected(config, targets, connection, sections=sections)
            )
            labels = {target.name: name for name, target in sections.items()}
            stairway = _Stairway(
                script, tools, redirect, tracers, options, report, progress, labels
            )
            if tracers:

                def follow(pid: int) -> None:
                    if stairway.tracer is not None:
                        stairway.tracer.add_pid(pid)

                redirect.on_pid = follow
            environment = _environment(config, script, stairway)
            try:
                with environment:
                    script.run_env()
            except UsageError:
                raise
            except Exception as exc:
                if stairway.current is None:
                    raise _env_error(exc, stairway) from exc
                result, step = stairway.current
                elapsed = (time.perf_counter() - stairway.step_started) * 1000
                _record_failure(
                    result, step, elapsed, exc, None if sqlite else stairway.tool, stairway.label
                )
            else:
                if not stairway.started:
                    raise UsageError(
                        "env.py did not run the migrations (does it call "
                        "context.run_migrations() in online mode?)"
                    )
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)
        for each in tools.values():
            with contextlib.suppress(Exception):
                if sqlite:
                    each.dispose()
                else:
                    each.close()
        engine.dispose()


def _env_error(exc: Exception, stairway: _Stairway) -> UsageError:
    """env.py (or the tool between steps) failed: an environment problem, exit 2."""
    where = "env.py" if not stairway.started else "the dry run"
    env_frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.basename(frame.filename) == "env.py"
    ]
    if env_frames:
        where += f" (line {env_frames[-1].lineno})"
    detail = str(exc).strip().splitlines()
    return UsageError(f"{where} failed: {type(exc).__name__}: {detail[0] if detail else ''}")


def _record_failure(
    result: RevisionResult,
    step: StepName,
    elapsed: float,
    exc: Exception,
    tool: psycopg.Connection[Any] | None,
    label: str | None = None,
) -> None:
    failure = describe_error(exc, step, result.path)
    if label:
        failure.message = f"{label}: {failure.message}"
    if step == "upgrade":
        result.upgrade, result.upgrade_ms = "failed", elapsed
        invalid: list[str] = []
        if tool is not None:
            with contextlib.suppress(psycopg.Error):
                _tables, invalid = table_state(tool)
        if invalid:
            failure.message += f"; it left INVALID index {', '.join(invalid)} behind"
    elif step == "downgrade":
        result.downgrade, result.downgrade_ms = "failed", elapsed
    else:
        result.reupgrade, result.reupgrade_ms = "failed", elapsed
    result.error = failure
