"""The public risk API: risk levels, findings, revision reports and the ``assess_*`` functions.

Project code imports this module to assess operations, SQL or revision files, so it must stay
importable without side effects: the analysis machinery is imported lazily inside the
``assess_*`` functions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation

__all__ = [
    "DEFAULT_TARGET_VERSION",
    "Direction",
    "Finding",
    "RevisionReport",
    "Risk",
    "assess_operations",
    "assess_revision",
    "assess_sql",
]

Direction = Literal["upgrade", "downgrade"]

#: PostgreSQL major version assumed when none is configured.
DEFAULT_TARGET_VERSION = 15


class Risk(enum.IntEnum):
    """How dangerous an operation is on a large, busy production table.

    Ordered, so ``max()`` of a revision's findings is its risk and ``--fail-on HIGH`` is a plain
    comparison. The scale is documented in docs/risk.md.
    """

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Risk:
        """Read a level written by a user (case-insensitive); raise ValueError with the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(level.name for level in cls)
            raise ValueError(f"unknown risk level {text!r} (choose from {choices})") from None


@dataclass(frozen=True)
class Finding:
    """One danger found in one operation of one revision, with the safe code to write instead."""

    code: str
    name: str
    risk: Risk
    message: str
    help: str = ""
    direction: Direction = "upgrade"
    file: str | None = None
    line: int | None = None
    operation: str | None = None
    table: str | None = None
    #: Revision-file lines that led to the operation, outermost (the statement in
    #: upgrade()/downgrade()) first, the operation's own line last.
    lines: tuple[int, ...] = ()
    suppressed: bool = False
    suppression_reason: str | None = None
    #: Why a human should look at this revision, when this finding alone is reason enough.
    escalation: str | None = None
    #: Found or confirmed by the dry run's measurements (locks held, tables rewritten).
    measured: bool = False


@dataclass
class RevisionReport:
    """Everything known about one revision: its findings, its overall risk and why to escalate.

    ``error`` is set when the revision could not be analysed (or only partly): the run goes on, and
    the exit code only reflects findings unless ``--strict`` is given.
    """

    revision: str | None
    path: str | None
    down_revision: str | tuple[str, ...] | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    doc: str | None = None
    #: Escalation reasons that come from no single finding (e.g. the dry run's duration
    #: estimate).
    extra_reasons: list[str] = field(default_factory=list)
    #: Imports of project code that failed and were replaced by stand-ins, with why: the
    #: analysis went on, but what those names do was not seen.
    stand_ins: dict[str, str] = field(default_factory=dict)

    @property
    def active_findings(self) -> list[Finding]:
        """Findings that were not suppressed in the revision file."""
        return [f for f in self.findings if not f.suppressed]

    @property
    def risk(self) -> Risk:
        """The highest risk among unsuppressed findings; LOW for a clean revision."""
        return max((f.risk for f in self.active_findings), default=Risk.LOW)

    @property
    def reasons(self) -> list[str]:
        """Escalation reasons, deduplicated, in the order their findings appear."""
        seen: dict[str, None] = {}
        for finding in self.active_findings:
            if finding.escalation:
                seen.setdefault(finding.escalation, None)
        for reason in self.extra_reasons:
            seen.setdefault(reason, None)
        return list(seen)

    @property
    def escalate(self) -> bool:
        """True when a human should review this revision before it is deployed."""
        return bool(self.reasons)


def assess_revision(
    path: str | Path,
    *,
    target_version: int = DEFAULT_TARGET_VERSION,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> RevisionReport:
    """Analyse one revision file without touching any database and return its report."""
    from alembic_safety.engine import Analyzer

    analyzer = Analyzer(target_version=target_version, select=select, ignore=ignore)
    return analyzer.assess_file(Path(path))


def assess_operations(
    operations: Iterable[MigrateOperation],
    *,
    direction: Direction = "upgrade",
    target_version: int = DEFAULT_TARGET_VERSION,
    new_tables: Iterable[str] = (),
    autocommit: bool = False,
) -> list[Finding]:
    """Assess Alembic operation objects (e.g. autogenerate output) as if they formed one revision.

    ``new_tables`` names tables created earlier in the same revision (operations on them are not
    dangerous); ``autocommit`` says the operations run inside ``autocommit_block()``.
    """
    from alembic_safety.engine import Analyzer

    analyzer = Analyzer(target_version=target_version)
    return analyzer.assess_operations(
        list(operations), direction=direction, new_tables=set(new_tables), autocommit=autocommit
    )


def assess_sql(
    sql: str,
    *,
    direction: Direction = "upgrade",
    target_version: int = DEFAULT_TARGET_VERSION,
    new_tables: Iterable[str] = (),
    autocommit: bool = False,
) -> list[Finding]:
    """Assess raw PostgreSQL text (one or more statements), as ``op.execute(sql)`` would run it."""
    from alembic.operations.ops import ExecuteSQLOp

    return assess_operations(
        [ExecuteSQLOp(sql)],
        direction=direction,
        target_version=target_version,
        new_tables=new_tables,
        autocommit=autocommit,
    )
