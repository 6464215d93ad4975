"""The dry run: every revision up → down → up on a throwaway PostgreSQL database.

SQLite projects run on a temporary SQLite file; a multidb env.py gets one database per engine.

Entry points for the CLI (``alembic-safety dry-run``, and ``safety-check`` which adds the dry run
to the lint) and for the pytest plugin. Importing this package is cheap: the database machinery
is imported when a run starts.

Modules: ``databases`` (embedded server / temporary database on a server, janitor, signals),
``redirect`` (env.py's engines and the connect guard), ``stairway`` (the per-revision steps),
``snapshot`` (pg_catalog snapshots and diffs, data fingerprints), ``locks`` (pg_locks sampling),
``seeding`` (synthetic rows), ``report`` (results, text and JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from alembic_safety.errors import EXIT_FINDINGS, EXIT_OK, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

    from alembic_safety.dryrun.databases import EmbeddedServer
    from alembic_safety.dryrun.report import DryRunReport

__all__ = [
    "DEFAULT_ROWS",
    "EXIT_TERMINATED",
    "add_dry_run_arguments",
    "dry_run",
    "dry_run_from_args",
    "parse_rows",
    "run_dry_run",
]

#: Rows seeded per table unless configured.
DEFAULT_ROWS = 100
#: Exit code after SIGTERM (128 + 15), once the throwaway database is gone.
EXIT_TERMINATED = 143


def parse_rows(values: str | int | Sequence[str | int] | None) -> tuple[int | None, dict[str, int]]:
    """``rows`` settings: ``N`` and/or ``table=N`` items (a list, or one comma-separated string).

    Returns (rows for every table or None when not given, per-table overrides).
    """
    if values is None:
        return None, {}
    items: list[str] = []
    for value in [values] if isinstance(values, (str, int)) else values:
        items.extend(part for part in str(value).replace(",", " ").split() if part)
    rows: int | None = None
    per_table: dict[str, int] = {}
    for item in items:
        table, sep, count = item.rpartition("=")
        try:
            number = int(count)
        except ValueError:
            raise UsageError(f"rows: expected N or table=N, got {item!r}") from None
        if number < 0:
            raise UsageError(f"rows: a row count cannot be negative ({item!r})")
        if sep:
            if not table:
                raise UsageError(f"rows: expected table=N, got {item!r}")
            per_table[table] = number
        else:
            rows = number
    return rows, per_table


def dry_run(
    config: Config,
    *,
    test_url: str | None = None,
    rows: int = DEFAULT_ROWS,
    rows_per_table: Mapping[str, int] | None = None,
    revision_range: str | None = None,
    keep: bool = False,
    trace_locks: bool = True,
    server: EmbeddedServer | None = None,
    progress_stream: TextIO | None = None,
    since: str | None = None,
    production_rows: int | None = None,
    production_rows_per_table: Mapping[str, int] | None = None,
    stats_url: str | None = None,
    scale_factor: int = 10,
) -> DryRunReport:
    """Run the stairway on a throwaway database and return the report (no output).

    ``test_url`` (else ``ALEMBIC_SAFETY_TEST_URL``) names a server to create the throwaway
    database on; otherwise ``server`` (a running embedded server, as the pytest plugin shares
    one per session) or a fresh embedded server is used. The project's own database is never
    touched. Raises UsageError for environment problems; KeyboardInterrupt and
    :class:`~alembic_safety.dryrun.databases.Terminated` pass through after cleanup.

    ``since`` checks only the revisions after it (``since:heads`` without ``since``).
    Revisions that block writes on an existing table are timed again at ``scale_factor`` times
    the seeded rows, and their duration is estimated at ``production_rows`` (every table) /
    ``production_rows_per_table``, else at ``pg_class.reltuples`` read from ``stats_url``
    (read only).
    """
    from alembic_safety.dryrun.databases import (
        env_test_url,
        sigterm_raises,
        sqlite_database,
        throwaway_databases,
    )
    from alembic_safety.dryrun.estimate import apply_estimates
    from alembic_safety.dryrun.report import DryRunReport
    from alembic_safety.dryrun.stairway import Progress, StairwayOptions, run_stairway

    url = test_url or env_test_url()
    engines = _multidb_engines(config)
    sqlite = not engines and _is_sqlite(config)
    report = DryRunReport(database="sqlite" if sqlite else "server" if url else "embedded")
    if sqlite:
        report.notes.append(
            "SQLite: no lock tracing, rewrite detection, seeding or duration estimates "
            "(they need PostgreSQL)"
        )
    options = StairwayOptions(
        rows=rows,
        rows_per_table=dict(rows_per_table or {}),
        revision_range=revision_range,
        since=since,
        trace_locks=trace_locks,
        scale_factor=scale_factor,
    )
    progress = Progress(progress_stream)
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(sigterm_raises())
            if sqlite:
                databases = [stack.enter_context(sqlite_database(keep=keep))]
            else:
                databases = stack.enter_context(
                    throwaway_databases(url, count=max(1, len(engines)), keep=keep, server=server)
                )
            database = databases[0]
            report.setup_ms = (time.perf_counter() - started) * 1000
            if sqlite:
                report.sqlite_version = database.server_version
            else:
                report.postgres_version = database.server_version
            report.database_name = ", ".join(d.name for d in databases)
            report.engines = {engine: d.name for engine, d in zip(engines, databases, strict=False)}
            if keep and progress_stream is not None:
                for each in databases:
                    done = (
                        f"drop it when done: DROP DATABASE {each.name}"
                        if each.kind == "server"
                        else "delete the file when done"
                        if each.kind == "sqlite"
                        else "the embedded server keeps running: its data directory is the host"
                    )
                    progress_stream.write(
                        f"alembic-safety: keeping the throwaway database {each.url} ({done})\n"
                    )
            run_stairway(config, databases, report, options, progress, engines=engines)
    finally:
        progress.clear()
        report.total_ms = (time.perf_counter() - started) * 1000
    apply_estimates(
        report, rows=production_rows, per_table=production_rows_per_table, stats_url=stats_url
    )
    return report


def _option(config: Config, name: str) -> str | None:
    try:
        return config.get_main_option(name)
    except Exception:  # an interpolation that cannot be resolved here
        return None


def _multidb_engines(config: Config) -> list[str]:
    """The engine names of Alembic's multidb template (``databases = engine1, engine2``)."""
    import re

    value = _option(config, "databases") or ""
    return [name for name in re.split(r",\s*", value.strip()) if name]


def _is_sqlite(config: Config) -> bool:
    """Whether the project's ``sqlalchemy.url`` names a SQLite database."""
    from sqlalchemy.engine import make_url

    url = _option(config, "sqlalchemy.url")
    if not url:
        return False
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except Exception:
        return False


def run_dry_run(
    config: Config,
    *,
    test_url: str | None,
    rows: int,
    rows_per_table: dict[str, int],
    revision_range: str | None,
    output_format: str,
    stream: TextIO,
    keep: bool = False,
    trace_locks: bool = True,
    since: str | None = None,
    production_rows: int | None = None,
    production_rows_per_table: Mapping[str, int] | None = None,
    stats_url: str | None = None,
) -> int:
    """The ``dry-run`` command: write the report to ``stream``, return the exit code.

    0 every revision passed, 1 a revision failed, 2 environment or usage problem (raised as
    UsageError for the caller's one-line handler), 143 after SIGTERM.
    """
    from alembic_safety.dryrun.databases import Terminated
    from alembic_safety.dryrun.report import render_text, to_json

    if output_format not in ("text", "json"):
        raise UsageError(f"format must be text or json, got {output_format!r}")
    try:
        # What revisions and env.py print must not end up inside the report (JSON on stdout).
        with contextlib.redirect_stdout(sys.stderr):
            report = dry_run(
                config,
                test_url=test_url,
                rows=rows,
                rows_per_table=rows_per_table,
                revision_range=revision_range,
                keep=keep,
                trace_locks=trace_locks,
                progress_stream=sys.stderr,
                since=since,
                production_rows=production_rows,
                production_rows_per_table=production_rows_per_table,
                stats_url=stats_url,
            )
    except Terminated:
        print("alembic-safety: terminated (throwaway database removed)", file=sys.stderr)
        return EXIT_TERMINATED
    stream.write((to_json(report) if output_format == "json" else render_text(report)) + "\n")
    stream.flush()
    return EXIT_OK if report.passed else EXIT_FINDINGS


def add_dry_run_arguments(
    parser: argparse.ArgumentParser, *, common: bool = True, optional: bool = False
) -> None:
    """The dry run's flags.

    ``common=False`` leaves out ``-c``, ``-n``, ``-r``, ``--format`` and ``-x`` (for a parser
    that already has the check's flags, like ``safety-check``); ``optional=True`` adds
    ``--no-dry-run``.
    """
    group = parser.add_argument_group("dry run")
    if common:
        group.add_argument(
            "-c", "--config", help="alembic.ini or pyproject.toml (default: ./alembic.ini)"
        )
        group.add_argument(
            "-n", "--name", default="alembic", help="ini section of the Alembic config"
        )
        group.add_argument(
            "-x", action="append", metavar="KEY=VALUE", help="passed to env.py, as with alembic -x"
        )
        group.add_argument(
            "-r",
            "--revision-range",
            metavar="A:B",
            help="only check revisions in A:B (earlier ones are applied without checks)",
        )
        group.add_argument(
            "--format", choices=("text", "json"), help="output format (default text)"
        )
    group.add_argument(
        "--test-url",
        metavar="URL",
        help="PostgreSQL server to create the throwaway database on (default: "
        "$ALEMBIC_SAFETY_TEST_URL, else an embedded server); never the project's database",
    )
    group.add_argument(
        "--rows",
        action="append",
        metavar="N|TABLE=N",
        help=f"rows seeded per table before each revision (default {DEFAULT_ROWS}, 0 = off); "
        "repeat TABLE=N for one table",
    )
    group.add_argument(
        "--since",
        metavar="REV",
        help="only check revisions after REV (e.g. the head of main); earlier ones are applied "
        "without checks",
    )
    group.add_argument(
        "--production-rows",
        action="append",
        metavar="N|TABLE=N",
        help="production row counts for the duration estimate; repeat TABLE=N per table",
    )
    group.add_argument(
        "--stats-url",
        metavar="URL",
        help="read production row counts (pg_class.reltuples) from this database, read only",
    )
    group.add_argument(
        "--no-lock-trace",
        dest="trace_locks",
        action="store_false",
        default=True,
        help="do not sample pg_locks while revisions run",
    )
    group.add_argument(
        "--keep", action="store_true", help="keep the throwaway database (debugging)"
    )
    if optional:
        group.add_argument("--no-dry-run", action="store_true", help="lint only, skip the dry run")


def _project_settings(args: argparse.Namespace, config: Config) -> Any:
    """The project's settings (pyproject / alembic.ini / ``-x``); the dry-run keys (``test_url``,
    ``rows``) are read with ``getattr`` so this works before and after config.py knows them."""
    from alembic_safety.config import load_settings, parse_x_options

    return load_settings(config, x_options=parse_x_options(getattr(args, "x", None)))


def dry_run_from_args(args: argparse.Namespace) -> int:
    """Run the dry run from parsed flags (see :func:`add_dry_run_arguments`).

    Precedence: flags, then ``ALEMBIC_SAFETY_TEST_URL``, then the project's settings.
    """
    from alembic_safety.dryrun.databases import env_test_url
    from alembic_safety.loading import load_config

    config = load_config(
        getattr(args, "config", None), ini_section=getattr(args, "name", "alembic")
    )
    if config.get_alembic_option("script_location") is None:
        raise UsageError(f"no script_location in {config.config_file_name or 'the Alembic config'}")
    if getattr(args, "x", None):
        config.cmd_opts = argparse.Namespace(x=list(args.x))
    settings = _project_settings(args, config)
    configured_rows, configured_tables = parse_rows(getattr(settings, "rows", None))
    prod_rows, prod_tables = parse_rows(getattr(settings, "production_rows", None) or None)
    flag_prod_rows, flag_prod_tables = parse_rows(getattr(args, "production_rows", None))
    flag_rows, flag_tables = parse_rows(getattr(args, "rows", None))
    rows = flag_rows if flag_rows is not None else configured_rows
    test_url = (
        getattr(args, "test_url", None) or env_test_url() or getattr(settings, "test_url", None)
    )
    return run_dry_run(
        config,
        test_url=test_url,
        rows=DEFAULT_ROWS if rows is None else rows,
        rows_per_table={**configured_tables, **flag_tables},
        revision_range=getattr(args, "revision_range", None) or settings.revision_range,
        output_format=getattr(args, "format", None) or settings.format,
        stream=sys.stdout,
        keep=bool(getattr(args, "keep", False)),
        trace_locks=bool(getattr(args, "trace_locks", True)) and settings.trace_locks,
        since=getattr(args, "since", None) or settings.since,
        production_rows=flag_prod_rows if flag_prod_rows is not None else prod_rows,
        production_rows_per_table={**prod_tables, **flag_prod_tables},
        stats_url=getattr(args, "stats_url", None) or settings.stats_url,
    )
