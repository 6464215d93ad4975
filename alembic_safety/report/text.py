"""Text output: grouped by revision, readable at a glance, coloured on a terminal."""

from __future__ import annotations

import os
from collections.abc import Sequence

from alembic_safety.report.json import summary_dict
from alembic_safety.risk import Finding, RevisionReport, Risk

_COLORS = {
    Risk.LOW: "\033[36m",
    Risk.MEDIUM: "\033[33m",
    Risk.HIGH: "\033[31m",
    Risk.CRITICAL: "\033[1;41;97m",
}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def _display_path(path: str | None) -> str:
    if not path:
        return "<no file>"
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def wrap(text: str, width: int, indent: str) -> list[str]:
    """Greedy word wrap (what textwrap does for plain prose, several times faster: a report of
    a long history wraps thousands of messages)."""
    lines: list[str] = []
    current = indent
    for word in text.split():
        if current != indent and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = indent + word
        else:
            current = current + word if current == indent else f"{current} {word}"
    if current != indent:
        lines.append(current)
    return lines


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def risk(self, risk: Risk) -> str:
        return f"{_COLORS[risk]}{risk.name}{_RESET}" if self.color else risk.name

    def bold(self, text: str) -> str:
        return f"{_BOLD}{text}{_RESET}" if self.color else text

    def dim(self, text: str) -> str:
        return f"{_DIM}{text}{_RESET}" if self.color else text


def _finding_lines(finding: Finding, style: _Style) -> list[str]:
    where = f"line {finding.line}" if finding.line else "file"
    head = (
        f"  {finding.direction:<9} {where:<9} {style.bold(finding.code)} {finding.name} "
        f"[{style.risk(finding.risk)}]"
    )
    if finding.suppressed:
        head += style.dim(f"  (suppressed: {finding.suppression_reason})")
    lines = [head]
    lines.extend(wrap(finding.message, 96, "      "))
    if finding.help and not finding.suppressed:
        lines.append(style.dim("      safe alternative:"))
        lines.extend(style.dim("        " + line) for line in finding.help.splitlines())
    return lines


def render(
    reports: Sequence[RevisionReport],
    *,
    fail_on: Risk,
    color: bool = False,
    verbose: bool = False,
    show_suppressed: bool = False,
    strict: bool = False,
) -> str:
    style = _Style(color)
    out: list[str] = []
    for report in reports:
        findings = [f for f in report.findings if show_suppressed or not f.suppressed]
        if not findings and not report.error and not verbose:
            continue
        flag = "  " + style.bold("escalate") if report.escalate else ""
        out.append(
            f"{style.bold(report.revision or '?')}  {_display_path(report.path)}  "
            f"{style.risk(report.risk)}{flag}"
        )
        if report.doc and verbose:
            out.append("  " + style.dim(report.doc.splitlines()[0]))
        for finding in findings:
            out.extend(_finding_lines(finding, style))
        for reason in report.reasons:
            out.append(f"  escalate: {reason}")
        if report.error:
            out.append(f"  error: {report.error}")
        if verbose:
            for name, why in report.stand_ins.items():
                out.append(style.dim(f"  stand-in: {name} ({why}): its code was not analysed"))
        out.append("")
    summary = summary_dict(reports, fail_on, strict)
    counts = ", ".join(f"{n} {level}" for level, n in reversed(summary["by_risk"].items()) if n)
    line = f"{summary['revisions']} revision(s) checked, {summary['findings']} finding(s)" + (
        f" ({counts})" if counts else ""
    )
    if summary["suppressed"]:
        line += f", {summary['suppressed']} suppressed"
    if summary["errors"]:
        line += f", {summary['errors']} not fully analysed"
    if summary["escalations"]:
        line += f", {summary['escalations']} to escalate"
    verdict = "FAILED" if summary["failed"] else "passed"
    mode = f"fail-on {fail_on.name}" + (", strict" if strict else "")
    out.append(f"{line}. {verdict} ({mode}).")
    return "\n".join(out)
