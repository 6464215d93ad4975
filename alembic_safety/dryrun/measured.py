"""What the dry run measured, fed back into the lint's revision reports (``safety-check``).

Per revision and per table that existed before it: an ACCESS EXCLUSIVE lock, a SHARE lock (an
index build) or a rewrite (new relfilenode) either confirms a static finding on that table that
claims as much — its message gains "confirmed by the dry run: …" and it is marked measured — or
becomes a finding of its own: AS702 measured-table-rewrite (HIGH) or AS701
measured-exclusive-lock (MEDIUM when held over 100 ms on the seeded rows, else LOW). A duration
estimate over five minutes adds an escalation reason to the revision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from alembic_safety.dryrun.report import DryRunReport, LockRecord, RevisionResult
from alembic_safety.dryrun.stairway import BLOCKING_MODES
from alembic_safety.risk import Finding, RevisionReport, Risk
from alembic_safety.rules import registry

__all__ = [
    "LONG_ESTIMATE_MS",
    "LONG_ESTIMATE_REASON",
    "LONG_LOCK_MS",
    "apply_measurements",
    "measure_revision",
]

#: An ACCESS EXCLUSIVE (or other write-blocking) lock held longer than this is MEDIUM.
LONG_LOCK_MS = 100.0
#: Estimated durations above this escalate the revision (DESIGN.md: "estimated over 5 min").
LONG_ESTIMATE_MS = 5 * 60 * 1000.0
LONG_ESTIMATE_REASON = "estimated over 5 minutes on production data"

#: The lock claims of static rules that a measured write-blocking lock confirms.
_BLOCKING_CLAIMS = frozenset({"SHARE", "ACCESS EXCLUSIVE"})


def _mode_name(mode: str) -> str:
    """``AccessExclusiveLock`` → ``ACCESS EXCLUSIVE``."""
    words = re.findall(r"[A-Z][a-z]*", mode.removesuffix("Lock"))
    return " ".join(words).upper()


def _table_key(name: str | None) -> str | None:
    if not name:
        return None
    return name.replace('"', "").removeprefix("public.")


def _claiming(
    report: RevisionReport, table: str, *, lock: str | None = None, rewrite: bool = False
) -> list[int]:
    """Indexes of static upgrade findings on ``table`` that claim the rewrite, or the lock
    (``lock``: PostgreSQL's mode name): the rule declares it, or the finding names it (advice
    about the lock itself, such as AS406 "ACCESS EXCLUSIVE lock on ... without a
    lock_timeout")."""
    found = []
    for index, finding in enumerate(report.findings):
        rule = registry.get(finding.code)
        if (
            rule is None
            or finding.measured
            or finding.direction != "upgrade"
            or _table_key(finding.table) != table
        ):
            continue
        claims_lock = lock is not None and (
            rule.lock in _BLOCKING_CLAIMS or f"{_mode_name(lock)} LOCK" in finding.message.upper()
        )
        if (rewrite and rule.rewrites) or claims_lock:
            found.append(index)
    return found


def _confirm(report: RevisionReport, indexes: list[int], note: str) -> bool:
    """Mark the riskiest of the findings at ``indexes`` confirmed; False when there is none."""
    if not indexes:
        return False
    index = max(indexes, key=lambda i: report.findings[i].risk)
    finding = report.findings[index]
    report.findings[index] = replace(
        finding, message=f"{finding.message} (confirmed by the dry run: {note})", measured=True
    )
    return True


def _note(lock: LockRecord | None, rewritten: bool) -> str:
    parts = []
    if lock is not None:
        parts.append(f"{_mode_name(lock.mode)} held {lock.held_ms:.0f} ms")
    if rewritten:
        parts.append("rewritten")
    return ", ".join(parts)


def measure_revision(report: RevisionReport, result: RevisionResult) -> None:
    """Confirm or add findings in ``report`` from one revision's measurements."""
    locks = {
        key: lock
        for lock in result.locks
        if not lock.new and lock.mode in BLOCKING_MODES and (key := _table_key(lock.relation))
    }
    rewritten = {key for name in result.rewritten if (key := _table_key(name))}
    for table in sorted(set(locks) | rewritten):
        lock, rewrite = locks.get(table), table in rewritten
        note = _note(lock, rewrite)
        if rewrite:
            if not _confirm(report, _claiming(report, table, rewrite=True), note):
                report.findings.append(_measured_finding(result, table, lock, rewrite, note))
                # a static lock-only finding on the table (e.g. SET NOT NULL) saw the lock part
                if lock is not None:
                    _confirm(report, _claiming(report, table, lock=lock.mode), _note(lock, False))
        elif lock is not None and not _confirm(
            report, _claiming(report, table, lock=lock.mode), note
        ):
            report.findings.append(_measured_finding(result, table, lock, rewrite, note))


def _measured_finding(
    result: RevisionResult, table: str, lock: LockRecord | None, rewrite: bool, note: str
) -> Finding:
    hidden = (
        "the statement is not visible to the linter (built at run time, in a DO block or a "
        "function?)"
    )
    if rewrite:
        rule = registry.get("AS702")
        risk = Risk.HIGH
        message = f'the upgrade rewrote "{table}" in the dry run ({note}): {hidden}'
        help_text = (
            f'Find the statement that rewrites "{table}" and write it as an Alembic operation or '
            "plain op.execute() SQL: the lint then shows the online alternative."
        )
    else:
        assert lock is not None
        rule = registry.get("AS701")
        risk = Risk.MEDIUM if lock.held_ms > LONG_LOCK_MS else Risk.LOW
        message = f'the upgrade held {note} on "{table}" in the dry run: {hidden}'
        help_text = (
            f'Find the statement that locks "{table}" and write it as an Alembic operation or '
            "plain op.execute() SQL; set lock_timeout so the lock request cannot queue queries."
        )
    assert rule is not None
    return Finding(
        code=rule.code,
        name=rule.name,
        risk=risk,
        message=message,
        help=help_text,
        direction="upgrade",
        file=result.path,
        table=table,
        measured=True,
    )


def apply_measurements(
    reports: Sequence[RevisionReport],
    dry: DryRunReport,
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> None:
    """Feed every checked revision's measurements into the lint report of the same revision.

    ``select``/``ignore`` (code prefixes, as in the settings) apply to AS701/AS702 as to any rule.
    """
    by_revision = {r.revision: r for r in reports if r.revision}
    for result in _measured(dry.revisions):
        report = by_revision.get(result.revision)
        if report is None:
            continue
        measure_revision(report, result)
        report.findings = [
            f
            for f in report.findings
            if not f.code.startswith("AS7") or _enabled(f.code, select, ignore)
        ]
        estimated = result.estimated_ms
        long = estimated is not None and estimated > LONG_ESTIMATE_MS
        if long and LONG_ESTIMATE_REASON not in report.extra_reasons:
            report.extra_reasons.append(LONG_ESTIMATE_REASON)


def _enabled(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    if select and not any(code.startswith(s.upper()) for s in select):
        return False
    return not any(code.startswith(i.upper()) for i in ignore)


def _measured(results: Iterable[RevisionResult]) -> Iterable[RevisionResult]:
    """Revisions whose upgrade ran (a failed downgrade still measured the upgrade)."""
    return (r for r in results if r.upgrade == "passed")
