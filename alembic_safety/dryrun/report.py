"""What a dry run found, per revision, and its text and JSON renderings.

Plain dataclasses filled in by the stairway as it goes, so a run stopped by a failure (or by
Ctrl-C) still has a complete report of everything before that point. The JSON shape is versioned
like the check report: ``schema_version`` only changes when a field changes meaning.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "SCHEMA_VERSION",
    "DryRunReport",
    "Estimate",
    "Failure",
    "LockRecord",
    "RevisionResult",
    "StepName",
    "render_text",
    "to_dict",
    "to_json",
]

SCHEMA_VERSION = 1

StepName = Literal["upgrade", "downgrade", "re-upgrade"]
#: Status of one step: it ran and passed, it failed, or the run stopped before it.
StepStatus = Literal["passed", "failed", "not run"]


@dataclass
class Failure:
    """Why a revision failed, pointing at the step, the statement and the line to fix."""

    step: StepName
    #: ``error`` (the step raised), ``schema`` (the downgrade did not restore the schema),
    #: ``invalid-index`` (an index build left an INVALID index behind).
    kind: str
    message: str
    sqlstate: str | None = None
    statement: str | None = None
    file: str | None = None
    line: int | None = None

    def one_line(self) -> str:
        state = f"SQLSTATE {self.sqlstate}: " if self.sqlstate else ""
        return f"{self.step} failed: {state}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "message": self.message,
            "sqlstate": self.sqlstate,
            "statement": self.statement,
            "file": self.file,
            "line": self.line,
        }


@dataclass
class LockRecord:
    """The strongest lock a step held on one relation, and for how long it was seen held."""

    relation: str
    mode: str
    held_ms: float
    #: The relation was created by the same step (its locks block nobody).
    new: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "relation": self.relation,
            "mode": self.mode,
            "held_ms": round(self.held_ms, 1),
            "new": self.new,
        }


@dataclass
class Estimate:
    """How long a revision that blocks writes on existing tables would take on production data.

    ``samples`` are (rows in ``tables`` together, upgrade ms) at the seeded size and at a larger
    one; the fit is linear, ``ms = a + b * rows``, and ``estimated_ms`` is that line at the
    production row counts (None unless every table's production count is known).
    """

    tables: list[str]
    samples: list[tuple[int, float]] = field(default_factory=list)
    production_rows: dict[str, int] = field(default_factory=dict)
    estimated_ms: float | None = None

    @property
    def fit(self) -> tuple[float, float] | None:
        """(a ms, b ms per row), or None with fewer than two sizes."""
        from alembic_safety.dryrun.estimate import fit_line

        return fit_line(self.samples)

    def to_dict(self) -> dict[str, Any]:
        fit = self.fit
        return {
            "tables": list(self.tables),
            "samples": [{"rows": rows, "ms": round(ms, 1)} for rows, ms in self.samples],
            "fixed_ms": None if fit is None else round(fit[0], 3),
            "ms_per_row": None if fit is None else fit[1],
            "production_rows": dict(self.production_rows),
            "estimated_ms": _ms(self.estimated_ms),
        }


@dataclass
class RevisionResult:
    """One revision's stairway: seed → upgrade → downgrade → re-upgrade."""

    revision: str
    path: str | None
    down_revisions: tuple[str, ...] = ()
    upgrade: StepStatus = "not run"
    downgrade: StepStatus = "not run"
    reupgrade: StepStatus = "not run"
    upgrade_ms: float | None = None
    downgrade_ms: float | None = None
    reupgrade_ms: float | None = None
    locks: list[LockRecord] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    rows_seeded: dict[str, int] = field(default_factory=dict)
    seed_notes: list[str] = field(default_factory=list)
    schema_diff: list[str] = field(default_factory=list)
    data_loss: list[str] = field(default_factory=list)
    error: Failure | None = None
    #: Duration model, for revisions that block writes on (or rewrite) an existing table.
    estimate: Estimate | None = None

    @property
    def estimated_ms(self) -> float | None:
        return None if self.estimate is None else self.estimate.estimated_ms

    @property
    def passed(self) -> bool:
        return self.error is None and self.reupgrade == "passed"

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "passed" if self.passed else "not run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "path": self.path,
            "down_revisions": list(self.down_revisions),
            "status": self.status,
            "upgrade": {"status": self.upgrade, "ms": _ms(self.upgrade_ms)},
            "downgrade": {"status": self.downgrade, "ms": _ms(self.downgrade_ms)},
            "reupgrade": {"status": self.reupgrade, "ms": _ms(self.reupgrade_ms)},
            "locks": [lock.to_dict() for lock in self.locks],
            "rewritten_tables": list(self.rewritten),
            "rows_seeded": dict(self.rows_seeded),
            "seed_notes": list(self.seed_notes),
            "schema_diff": list(self.schema_diff),
            "data_loss": list(self.data_loss),
            "error": self.error.to_dict() if self.error else None,
            "estimated_ms": _ms(self.estimated_ms),
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class DryRunReport:
    """The whole run: where it ran, and each revision checked (in upgrade order)."""

    database: Literal["embedded", "server", "sqlite"]
    postgres_version: str = ""
    #: SQLite's version when the project's database is SQLite (a temporary file).
    sqlite_version: str = ""
    database_name: str = ""
    #: A multidb env.py: engine name → its throwaway database.
    engines: dict[str, str] = field(default_factory=dict)
    #: What this run could not check (e.g. lock tracing on SQLite).
    notes: list[str] = field(default_factory=list)
    revisions: list[RevisionResult] = field(default_factory=list)
    #: Revisions selected for the stairway (a stopped run checks fewer).
    selected: int = 0
    setup_ms: float = 0.0
    total_ms: float = 0.0

    @property
    def failed(self) -> RevisionResult | None:
        return next((r for r in self.revisions if r.error is not None), None)

    @property
    def passed(self) -> bool:
        return self.failed is None and all(r.passed for r in self.revisions)

    def summary(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "selected": self.selected,
            "checked": len(self.revisions),
            "passed": sum(1 for r in self.revisions if r.passed),
            "failed": 1 if failed else 0,
            "failed_revision": failed.revision if failed else None,
            "data_loss": sum(len(r.data_loss) for r in self.revisions),
            "rewritten_tables": sum(len(r.rewritten) for r in self.revisions),
            "setup_ms": round(self.setup_ms, 1),
            "total_ms": round(self.total_ms, 1),
            "ok": self.passed,
        }


def to_dict(report: DryRunReport) -> dict[str, Any]:
    """The ``dry_run`` object of the JSON document (to embed it in another report)."""
    return {
        "database": report.database,
        "postgres_version": report.postgres_version,
        "sqlite_version": report.sqlite_version,
        "engines": dict(report.engines),
        "notes": list(report.notes),
        "revisions": [r.to_dict() for r in report.revisions],
        "summary": report.summary(),
    }


def to_json(report: DryRunReport) -> str:
    """The versioned JSON document (``{"schema_version": 1, "dry_run": {...}}``)."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "dry_run": to_dict(report)}, indent=2)


def _display_path(path: str | None) -> str:
    if not path:
        return "<no file>"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 1 else "<1 ms"


def _revision_lines(result: RevisionResult) -> list[str]:
    mark = {"passed": "ok  ", "failed": "FAIL", "not run": "--  "}[result.status]
    lines = [
        f"{mark} {result.revision}  {_display_path(result.path)}  "
        f"up {_duration(result.upgrade_ms)}, down {_duration(result.downgrade_ms)}, "
        f"re-up {_duration(result.reupgrade_ms)}"
    ]
    error = result.error
    if error is not None:
        where = f" ({_display_path(error.file)}:{error.line})" if error.file and error.line else ""
        lines.append(f"     {error.one_line()}{where}")
        if error.statement:
            statement = " ".join(error.statement.split())
            if len(statement) > 200:
                statement = statement[:197] + "..."
            lines.append(f"     statement: {statement}")
    if len(result.schema_diff) > 1 or error is None or error.kind != "schema":
        lines.extend(f"     schema: {line}" for line in result.schema_diff)
    lines.extend(f"     data loss: {line}" for line in result.data_loss)
    blocking = [lock for lock in result.locks if not lock.new]
    if blocking:
        shown = ", ".join(f"{lock.relation} {lock.mode} {lock.held_ms:.0f} ms" for lock in blocking)
        lines.append(f"     locks: {shown}")
    if result.rewritten:
        lines.append(f"     rewritten: {', '.join(result.rewritten)}")
    if result.rows_seeded:
        seeded = ", ".join(f"{table} +{rows}" for table, rows in result.rows_seeded.items())
        lines.append(f"     seeded: {seeded}")
    lines.extend(f"     seeding: {note}" for note in result.seed_notes)
    if result.estimate is not None:
        lines.append(f"     estimated duration: {_estimate_text(result.estimate)}")
    return lines


def _long_duration(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 1:
        return _duration(ms)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _estimate_text(estimate: Estimate) -> str:
    measured = ", ".join(f"{_duration(ms)} at {rows:,} rows" for rows, ms in estimate.samples)
    if estimate.estimated_ms is None:
        head = "unknown (no production row counts for " + ", ".join(estimate.tables) + ")"
    else:
        sizes = ", ".join(f"{t} {n:,} rows" for t, n in estimate.production_rows.items())
        head = f"{_long_duration(estimate.estimated_ms)} at production size ({sizes})"
    return f"{head}; measured {measured}" if measured else head


def render_text(report: DryRunReport) -> str:
    """Human-readable report: one block per revision, then a one-line summary."""
    where = {"embedded": "embedded PostgreSQL", "sqlite": "SQLite"}.get(
        report.database, "PostgreSQL server"
    )
    version = report.sqlite_version if report.database == "sqlite" else report.postgres_version
    version = f" {version}" if version else ""
    if report.engines:
        names = ", ".join(f"{engine}={name}" for engine, name in report.engines.items())
        database = f"throwaway databases {names}"
    else:
        database = f"throwaway database {report.database_name}"
    out = [f"dry run on {where}{version} ({database})"]
    out.extend(f"note: {note}" for note in report.notes)
    for result in report.revisions:
        out.extend(_revision_lines(result))
    summary = report.summary()
    failed = report.failed
    tail = f"; failed at {failed.revision} ({failed.error.step})" if failed and failed.error else ""
    out.append(
        f"{summary['checked']} of {summary['selected']} revisions checked, "
        f"{summary['passed']} passed{tail} in {report.total_ms / 1000:.1f} s"
    )
    return "\n".join(out)
