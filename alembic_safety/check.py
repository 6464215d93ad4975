"""The check command, shared by ``alembic safety-check`` and ``alembic-safety check``.

Loads the history (from an Alembic config or bare paths), runs the analyzer, writes the report
and returns the exit code. Never touches a database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic.config import Config

from alembic_safety.config import Settings
from alembic_safety.engine import Analyzer
from alembic_safety.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from alembic_safety.loading import (
    History,
    RevisionScript,
    discover_from_config,
    discover_from_paths,
    load_history,
    revision_map,
    select_range,
)
from alembic_safety.report import json as json_report
from alembic_safety.report import text as text_report
from alembic_safety.risk import RevisionReport

__all__ = ["LintResult", "exit_code", "lint", "run_check", "run_safety_check"]


class _Progress:
    """A one-line counter on an interactive terminal; silent in CI and when piped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty() and not os.environ.get("CI")
        self.shown = False

    def __call__(self, done: int, total: int, script: RevisionScript) -> None:
        if not self.enabled or total < 20:
            return
        self.shown = True
        self.stream.write(f"\r\033[Kchecking {done}/{total} {script.revision or ''}")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def exit_code(reports: Sequence[RevisionReport], settings: Settings) -> int:
    """1 when a finding reaches ``fail_on`` (or, with ``strict``, a revision was not analysed)."""
    failing = json_report.is_failing(reports, settings.fail_on, settings.strict)
    return EXIT_FINDINGS if failing else EXIT_OK


def _use_color(settings: Settings, stream: TextIO) -> bool:
    if settings.color == "always":
        return True
    if settings.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


@dataclass
class LintResult:
    """The reports of a check run, and what the revision graph said."""

    reports: list[RevisionReport]
    graph_error: str | None = None


def _lint_selection(history: History, settings: Settings) -> list[RevisionScript] | None:
    """The revisions to report: ``revision_range``, or those after ``since`` (the same
    revisions the dry run checks)."""
    if settings.since:
        if settings.revision_range:
            raise UsageError("give either since or a revision range, not both")
        if settings.since.strip().lower() == "base":
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = revision_map(history.scripts).get_revision(settings.since.strip())
        except Exception as exc:  # alembic raises several error types for unknown revisions
            raise UsageError(f"since {settings.since!r}: {exc}") from None
        if start is None:
            return None
        chosen = select_range(history, f"{start.revision}:heads")
        return [s for s in chosen if s.revision != start.revision]
    if settings.revision_range:
        return select_range(history, settings.revision_range)
    return None


def lint(
    settings: Settings,
    *,
    config: Config | None = None,
    paths: Sequence[str] = (),
    stderr: TextIO | None = None,
) -> LintResult:
    """Analyse the revisions named by ``paths`` (or the config's history), without output."""
    progress = _Progress(stderr or sys.stderr)
    if paths:
        files, search = discover_from_paths(paths)
    else:
        assert config is not None, "either paths or an Alembic config is needed"
        files, search = discover_from_config(config)
    # Files named one by one (pre-commit passes the changed ones) are part of a larger history.
    partial = bool(paths) and not any(Path(p).is_dir() for p in paths)
    # Revision files (and env.py) may print(); stdout is kept for the report, so JSON stays
    # parseable.
    with contextlib.redirect_stdout(sys.stderr):
        history = load_history(files, search, partial=partial)
    selected = _lint_selection(history, settings)
    analyzer = Analyzer(
        target_version=settings.target_version,
        select=settings.select,
        ignore=settings.ignore,
        check_downgrade=settings.check_downgrade,
        config=config,
        lock_timeout_by_runner=settings.lock_timeout_by_runner,
        use_models=settings.use_models,
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            reports = analyzer.assess_history(history, selected, progress=progress)
    finally:
        progress.clear()
    return LintResult(reports, history.graph_error)


def render_lint(result: LintResult, settings: Settings, out: TextIO) -> str:
    if settings.format == "json":
        return json_report.render(
            result.reports,
            target_version=settings.target_version,
            fail_on=settings.fail_on,
            strict=settings.strict,
        )
    rendered = text_report.render(
        result.reports,
        fail_on=settings.fail_on,
        color=_use_color(settings, out),
        verbose=settings.verbose,
        show_suppressed=settings.show_suppressed,
        strict=settings.strict,
    )
    if result.graph_error:
        rendered = f"warning: revision graph: {result.graph_error}\n{rendered}"
    return rendered


def run_check(
    settings: Settings,
    *,
    config: Config | None = None,
    paths: Sequence[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Check the revisions named by ``paths`` (or the config's history); return the exit code."""
    out = stdout or sys.stdout
    result = lint(settings, config=config, paths=paths, stderr=stderr)
    out.write(render_lint(result, settings, out) + "\n")
    out.flush()
    return exit_code(result.reports, settings)


def _test_url(settings: Settings, from_environment: str | None) -> str | None:
    """Where the dry run creates its database: --test-url, then ALEMBIC_SAFETY_TEST_URL, then
    the ``test_url`` setting (the same order as ``alembic-safety dry-run``)."""
    if settings.origin.get("test_url") == "command line":
        return settings.test_url
    return from_environment or settings.test_url


def run_safety_check(
    settings: Settings,
    *,
    config: Config,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    keep: bool = False,
) -> int:
    """The single CI command: the lint, then (unless ``dry_run`` is off) the dry run.

    One report: the text of both, or one JSON document whose ``dry_run`` key holds the dry
    run's results. The exit code is the worse of the two.
    """
    out = stdout or sys.stdout
    result = lint(settings, config=config, stderr=stderr)
    if not settings.dry_run:
        out.write(render_lint(result, settings, out) + "\n")
        out.flush()
        return exit_code(result.reports, settings)
    from alembic_safety.dryrun import DEFAULT_ROWS, dry_run, parse_rows
    from alembic_safety.dryrun.databases import Terminated, env_test_url
    from alembic_safety.dryrun.measured import apply_measurements
    from alembic_safety.dryrun.report import render_text, to_dict

    rows, per_table = parse_rows(settings.rows or None)
    production_rows, production_per_table = parse_rows(settings.production_rows or None)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = dry_run(
                config,
                test_url=_test_url(settings, env_test_url()),
                rows=DEFAULT_ROWS if rows is None else rows,
                rows_per_table=per_table,
                revision_range=settings.revision_range,
                since=settings.since,
                keep=keep,
                trace_locks=settings.trace_locks,
                progress_stream=stderr or sys.stderr,
                production_rows=production_rows,
                production_rows_per_table=production_per_table,
                stats_url=settings.stats_url,
            )
    except Terminated:
        print("alembic-safety: terminated (throwaway database removed)", file=sys.stderr)
        return 143
    # Measured locks, rewrites and long estimates become findings of the revisions they belong
    # to, so they count towards the risk, the escalations and the exit code like static ones.
    apply_measurements(result.reports, report, select=settings.select, ignore=settings.ignore)
    code = exit_code(result.reports, settings)
    rendered = render_lint(result, settings, out)
    if settings.format == "json":
        document = json.loads(rendered)
        document["dry_run"] = to_dict(report)
        rendered = json.dumps(document, indent=2, ensure_ascii=False)
    else:
        rendered = f"{rendered}\n\n{render_text(report)}"
    code = max(code, EXIT_OK if report.passed else EXIT_FINDINGS)
    out.write(rendered + "\n")
    out.flush()
    return code
