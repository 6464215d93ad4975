"""JSON output: a stable, versioned shape for CI tools and dashboards.

``schema_version`` only changes when a field changes meaning or disappears; new fields may be
added at any time. The shape is documented in docs/json-format.md.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from alembic_safety import __version__
from alembic_safety.risk import Finding, RevisionReport, Risk

SCHEMA_VERSION = 1


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "risk": finding.risk.name,
        "direction": finding.direction,
        "line": finding.line,
        "lines": list(finding.lines),
        "operation": finding.operation,
        "table": finding.table,
        "message": finding.message,
        "help": finding.help,
        "suppressed": finding.suppressed,
        "suppression_reason": finding.suppression_reason,
        "measured": finding.measured,
    }


def revision_dict(report: RevisionReport) -> dict[str, Any]:
    down = report.down_revision
    return {
        "revision": report.revision,
        "down_revision": list(down) if isinstance(down, tuple) else down,
        "path": report.path,
        "risk": report.risk.name,
        "escalate": report.escalate,
        "reasons": report.reasons,
        "error": report.error,
        "stand_ins": report.stand_ins,
        "findings": [finding_dict(f) for f in report.findings],
    }


def is_failing(reports: Sequence[RevisionReport], fail_on: Risk, strict: bool = False) -> bool:
    """A finding reaches ``fail_on``, or (``strict``) a revision could not be fully analysed."""
    if strict and any(r.error for r in reports):
        return True
    return any(f.risk >= fail_on for r in reports for f in r.active_findings)


def summary_dict(
    reports: Sequence[RevisionReport], fail_on: Risk, strict: bool = False
) -> dict[str, Any]:
    active = [f for r in reports for f in r.active_findings]
    by_risk = Counter(f.risk.name for f in active)
    return {
        "revisions": len(reports),
        "findings": len(active),
        "suppressed": sum(1 for r in reports for f in r.findings if f.suppressed),
        "by_risk": {level.name: by_risk.get(level.name, 0) for level in Risk},
        "errors": sum(1 for r in reports if r.error),
        "escalations": sum(1 for r in reports if r.escalate),
        "max_risk": max((r.risk for r in reports), default=Risk.LOW).name,
        "fail_on": fail_on.name,
        "strict": strict,
        "failed": is_failing(reports, fail_on, strict),
    }


def render(
    reports: Sequence[RevisionReport],
    *,
    target_version: int,
    fail_on: Risk,
    strict: bool = False,
) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "alembic-safety", "version": __version__},
        "target": {"dialect": "postgresql", "version": target_version},
        "revisions": [revision_dict(r) for r in reports],
        "summary": summary_dict(reports, fail_on, strict),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
