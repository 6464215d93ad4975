"""The check command, shared by ``alembic safety-check`` and ``alembic-safety check``.

Loads the history (from an Alembic config or bare paths), runs the analyzer, writes the report
and returns the exit code. Never touches a database.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from alembic.config import Config

from alembic_safety.config import Settings
from alembic_safety.engine import Analyzer
from alembic_safety.errors import EXIT_FINDINGS, EXIT_OK
from alembic_safety.loading import (
    RevisionScript,
    discover_from_config,
    discover_from_paths,
    load_history,
    select_range,
)
from alembic_safety.report import json as json_report
from alembic_safety.report import text as text_report
from alembic_safety.risk import RevisionReport

__all__ = ["exit_code", "run_check"]


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
    failing = any(f.risk >= settings.fail_on for r in reports for f in r.active_findings)
    if settings.strict and any(r.error for r in reports):
        failing = True
    return EXIT_FINDINGS if failing else EXIT_OK


def _use_color(settings: Settings, stream: TextIO) -> bool:
    if settings.color == "always":
        return True
    if settings.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


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
    selected = select_range(history, settings.revision_range) if settings.revision_range else None
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
    if settings.format == "json":
        rendered = json_report.render(
            reports, target_version=settings.target_version, fail_on=settings.fail_on
        )
    else:
        rendered = text_report.render(
            reports,
            fail_on=settings.fail_on,
            color=_use_color(settings, out),
            verbose=settings.verbose,
            show_suppressed=settings.show_suppressed,
        )
        if history.graph_error:
            rendered = f"warning: revision graph: {history.graph_error}\n{rendered}"
    out.write(rendered + "\n")
    out.flush()
    return exit_code(reports, settings)
