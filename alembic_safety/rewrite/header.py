"""The risk header written into each generated revision's docstring.

How it reaches the file: the stock ``script.py.mako`` of Alembic 1.20.1 opens the module
docstring with ``${message}``, and Mako renders a value with ``str(value)``. But the file name's
slug is *not* taken from the first line: ``ScriptDirectory._rev_path`` joins every word of the
whole message (``\\w+``) and cuts at ``truncate_slug_length`` (40), so a header appended to a short
message would leak "migration_id_..." into the file name. The message therefore becomes a
:class:`RevisionMessage`: a ``str`` whose value is the user's message (what the slug, and any
string operation, sees) and whose ``str()`` adds the header (what the template writes). No
template change is needed and file names are exactly what stock Alembic would produce; the test
suite checks both on real files, so an Alembic change that breaks either is caught.

The alternative, ``context.opts["template_args"]`` keyed by rev_id read from a customised
``script.py.mako``, needs every project to edit its template; it remains an option for an
``alembic-safety init`` command.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from alembic.operations import ops

from alembic_safety.rewrite.custom_ops import AutocommitBlockOp, BackfillOp, NoteOp, PassOp
from alembic_safety.rewrite.duration import describe_duration, size_bound_tables
from alembic_safety.risk import Finding, Risk, assess_operations

__all__ = [
    "UNKNOWN_DURATION",
    "Phase",
    "RevisionHeader",
    "RevisionMessage",
    "add_header",
    "assess_script",
    "build_header",
    "has_operations",
]

Phase = Literal["expand", "migrate", "contract"]

#: What the header says about duration until the dry run has measured the revision.
UNKNOWN_DURATION = "unknown (run the dry run)"


class RevisionMessage(str):
    """The user's message for the slug; the message plus the risk header for the template."""

    header: str

    def __new__(cls, message: str | None, header: str) -> RevisionMessage:
        instance = super().__new__(cls, message or "")
        instance.header = header
        return instance

    def __str__(self) -> str:
        # None/"" would render as "empty message" in stock Alembic; keep that first line.
        first = str.__str__(self) or "empty message"
        return f"{first}\n\n{self.header}"


@dataclass(frozen=True)
class RevisionHeader:
    """The facts a reviewer needs before reading the code of a generated revision."""

    revision: str
    description: str
    risk: Risk
    phase: Phase
    rollback: bool
    findings: tuple[str, ...] = ()
    #: Why a human must decide when to deploy it (drops, breaking renames).
    escalations: tuple[str, ...] = ()
    duration: str = UNKNOWN_DURATION
    #: The upgrade drops columns or tables: a downgrade brings them back empty.
    loses_data: bool = False

    @property
    def rollback_text(self) -> str:
        if not self.rollback:
            return "none (nothing to undo)" if self.phase != "expand" else "none"
        if self.loses_data:
            return "included (schema only: the dropped data is not restored)"
        return "included"

    @property
    def deploy_order(self) -> str:
        """When to run it relative to the application's deploys (the expand/contract contract)."""
        if self.escalations:
            return "on its own, after the application release named in the escalation below"
        if self.phase == "expand":
            return "before the application change that uses it"
        if self.phase == "migrate":
            return "after the previous revision, while the application runs"
        return "after the previous revision"

    def render(self) -> str:
        lines = [
            "alembic-safety:",
            f"Migration ID: {self.revision}",
            f"Description: {self.description}",
            f"Risk Level: {self.risk}",
            f"Estimated Duration: {self.duration}",
            f"Rollback: {self.rollback_text}",
            f"Phase: {self.phase}",
            f"Deploy Order: {self.deploy_order}",
        ]
        if self.findings:
            lines.append(f"Findings: {', '.join(self.findings)}")
        lines += [f"Escalation: {note}" for note in self.escalations]
        # A triple quote would end the docstring early.
        return "\n".join(lines).replace('"""', "'''")


def _flatten(
    container: ops.OpContainer, autocommit: bool = False
) -> Iterator[tuple[ops.MigrateOperation, bool]]:
    """Every leaf operation in order, with whether it runs inside an autocommit block."""
    for operation in container.ops:
        if isinstance(operation, ops.OpContainer):
            inner = autocommit or isinstance(operation, AutocommitBlockOp)
            yield from _flatten(operation, inner)
        elif not isinstance(operation, (NoteOp, PassOp)):
            yield operation, autocommit


def has_operations(container: ops.OpContainer) -> bool:
    """True when the container renders something besides comments (``pass`` otherwise)."""
    return any(True for _ in _flatten(container))


def _as_rendered(operation: ops.MigrateOperation) -> ops.MigrateOperation:
    """``operation`` as the file will have it, which is what the linter reads.

    Autogenerate's ``add_column`` carries the model's Column, ``index=True`` / ``unique=True``
    included, but Alembic renders the column without them (the index or constraint is a separate
    op, made concurrent by the rewriter): assessed as is, the header would report AS106/AS110
    for an index the file does not create.
    """
    if not isinstance(operation, ops.AddColumnOp):
        return operation
    column = operation.column
    if not (column.index or column.unique):
        return operation
    rendered = column._copy()
    rendered.index = rendered.unique = None
    return ops.AddColumnOp(operation.table_name, rendered, schema=operation.schema)


def assess_script(upgrade_ops: ops.OpContainer) -> list[Finding]:
    """Findings for a script's upgrade, each run of ops assessed in its transaction mode.

    ``assess_operations`` takes one ``autocommit`` flag, so consecutive operations with the same
    mode are assessed together (the rewriter keeps each block's related steps, e.g. a NOT VALID
    add and its VALIDATE, in one run); tables created by earlier runs are passed as new.
    """
    findings: list[Finding] = []
    new_tables: set[str] = set()
    # A session-level SET (lock_timeout) outlives the transaction it ran in: carry it into
    # every later run, as the linter reading the whole file does.
    settings: list[ops.MigrateOperation] = []
    for autocommit, group in groupby(_flatten(upgrade_ops), key=lambda pair: pair[1]):
        run = [_as_rendered(operation) for operation, _ in group]
        findings += assess_operations(
            [*settings, *run], new_tables=new_tables, autocommit=autocommit
        )
        new_tables |= {str(o.table_name) for o in run if isinstance(o, ops.CreateTableOp)}
        settings += [o for o in run if _is_session_setting(o)]
    return findings


def _is_session_setting(operation: ops.MigrateOperation) -> bool:
    if not isinstance(operation, ops.ExecuteSQLOp) or not isinstance(operation.sqltext, str):
        return False
    words = operation.sqltext.split(None, 2)
    return len(words) > 1 and words[0].upper() == "SET" and words[1].upper() != "LOCAL"


def build_header(
    script: ops.MigrationScript,
    phase: Phase,
    message: str | None,
    escalations: Sequence[str] = (),
    row_estimates: Mapping[str, int] | None = None,
) -> str:
    """The rendered header for ``script``; risk from its upgrade ops, as the linter sees them.

    ``row_estimates`` (table → rows where autogenerate ran) sizes the duration line; without
    it the tables are named without sizes.
    """
    findings = [
        f
        for upgrade in script.upgrade_ops_list
        for f in assess_script(upgrade)
        if f.risk > Risk.LOW
    ]
    header = RevisionHeader(
        revision=str(script.rev_id),
        description=message.splitlines()[0] if message else "empty message",
        risk=max((f.risk for f in findings), default=Risk.LOW),
        phase=phase,
        rollback=any(has_operations(d) for d in script.downgrade_ops_list),
        findings=tuple(dict.fromkeys(f"{f.code} {f.name}" for f in findings)),
        escalations=tuple(dict.fromkeys(escalations)),
        duration=describe_duration(size_bound_tables(script), row_estimates or {}),
        loses_data=_loses_data(script),
    )
    return header.render()


def _loses_data(script: ops.MigrationScript) -> bool:
    """The upgrade drops a table, or a column its downgrade does not refill (a backfill)."""
    refilled = {
        (o.table_sql.split(".")[-1].strip('"'), o.target_sql.strip('"'))
        for downgrade in script.downgrade_ops_list
        for o, _ in _flatten(downgrade)
        if isinstance(o, BackfillOp)
    }
    for upgrade in script.upgrade_ops_list:
        for o, _ in _flatten(upgrade):
            if isinstance(o, ops.DropTableOp):
                return True
            if (
                isinstance(o, ops.DropColumnOp)
                and (str(o.table_name), str(o.column_name)) not in refilled
            ):
                return True
    return False


def add_header(
    script: ops.MigrationScript,
    phase: Phase,
    escalations: Sequence[str] = (),
    row_estimates: Mapping[str, int] | None = None,
) -> None:
    """Put the header into ``script.message`` (see the module docstring for why this way)."""
    message = script.message
    if isinstance(message, RevisionMessage):
        message = str.__str__(message)
    header = build_header(script, phase, message, escalations, row_estimates)
    script.message = RevisionMessage(message, header)
