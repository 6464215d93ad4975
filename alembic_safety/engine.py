"""From revision files to reports: record each direction, run the rules, apply suppressions.

This is the one place the data flow of DESIGN.md is wired together:
revision files → RevisionScript → [OpRecord] → rules → [Finding] → RevisionReport.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.operations import ops
from sqlalchemy import Column, MetaData

from alembic_safety.analysis.ops import SetConfigOp, ValidateConstraintOp
from alembic_safety.analysis.recorder import (
    OpRecord,
    Recording,
    RecordingSession,
    compile_sql,
    record_operations,
)
from alembic_safety.loading import History, RevisionScript, load_history
from alembic_safety.risk import DEFAULT_TARGET_VERSION, Direction, Finding, RevisionReport, Risk
from alembic_safety.rules import registry
from alembic_safety.rules.base import (
    CheckFact,
    RevisionContext,
    Rule,
    RuleContext,
    SchemaFacts,
    UpgradeProducts,
    Violation,
)
from alembic_safety.suppression import Suppression, parse_suppressions

__all__ = ["Analyzer"]

SUPPRESSION_WITHOUT_REASON = "AS903"
UNUSED_SUPPRESSION = "AS904"
MULTIPLE_HEADS = "AS601"
UNREACHABLE_REVISION = "AS602"

_NOT_NULL_CHECK = re.compile(r'^\(*\s*"?(?P<column>\w+)"?\s+IS\s+NOT\s+NULL\s*\)*$', re.IGNORECASE)


def _enabled(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(i) for i in ignore)


def not_null_check_column(operation: ops.CreateCheckConstraintOp) -> str | None:
    """The column of a ``CHECK (col IS NOT NULL)`` constraint, or None for any other check."""
    match = _NOT_NULL_CHECK.match(compile_sql(operation.condition).strip())
    return match.group("column") if match else None


def _update_column_types(facts: SchemaFacts, record: OpRecord) -> None:
    """Follow column types through creates, adds, type changes, renames and drops."""
    operation, table, types = record.operation, record.table, facts.column_types
    if table is None:
        return
    if isinstance(operation, ops.CreateTableOp):
        for column in operation.columns:
            if isinstance(column, Column):
                types[(table, str(column.name))] = column.type
    elif isinstance(operation, ops.AddColumnOp):
        types[(table, str(operation.column.name))] = operation.column.type
    elif isinstance(operation, ops.AlterColumnOp):
        key = (table, str(operation.column_name))
        if operation.modify_type is not None:
            types[key] = operation.modify_type
        if operation.modify_name and key in types:
            types[(table, str(operation.modify_name))] = types.pop(key)
    elif isinstance(operation, ops.DropColumnOp):
        types.pop((table, str(operation.column_name)), None)
    elif isinstance(operation, (ops.DropTableOp, ops.RenameTableOp)):
        new = str(operation.new_table_name) if isinstance(operation, ops.RenameTableOp) else None
        for key in [k for k in types if k[0] == table]:
            value = types.pop(key)
            if new is not None:
                types[(new, key[1])] = value


def _update_facts(facts: SchemaFacts, record: OpRecord) -> None:
    """Remember what this operation establishes for later ones (in upgrade order)."""
    operation = record.operation
    _update_column_types(facts, record)
    if isinstance(operation, SetConfigOp):
        facts.settings[operation.name.lower()] = operation.value
    elif isinstance(operation, ops.CreateCheckConstraintOp) and record.table:
        facts.checks[(record.table, str(operation.constraint_name))] = CheckFact(
            validated=not operation.kw.get("postgresql_not_valid"),
            not_null_column=not_null_check_column(operation),
        )
    elif isinstance(operation, ops.DropConstraintOp) and record.table:
        facts.checks.pop((record.table, str(operation.constraint_name)), None)
    elif isinstance(operation, ValidateConstraintOp) and record.table:
        key = (record.table, str(operation.constraint_name))
        if key in facts.checks:
            facts.checks[key] = replace(facts.checks[key], validated=True)


def _finding(
    rule: Rule, violation: Violation, record: OpRecord | None, path: str | None
) -> Finding:
    """A Finding from a rule's Violation, located at ``record`` (or the violation's own line)."""
    # Frame lines: on Python 3.11+ a call's line is where the call starts, which is the
    # statement's first line for every ``op.*(...)`` statement.
    if record is not None:
        lines = record.lines
        direction, operation, table = record.direction, record.operation_name, record.table
    else:
        lines = (violation.line,) if violation.line else ()
        direction, operation, table = violation.direction, "revision", None
    return Finding(
        code=rule.code,
        name=rule.name,
        risk=violation.risk or rule.risk,
        message=violation.message,
        help=violation.help,
        direction=direction,
        file=path,
        line=lines[0] if lines else None,
        lines=lines,
        operation=operation,
        table=violation.table or table,
        escalation=rule.escalation,
    )


def _direction_function(module: Any, direction: Direction) -> Callable[[], Any] | None:
    """The revision's ``upgrade``/``downgrade``, callable without arguments.

    Alembic's multidb template defines ``upgrade(engine_name)`` which dispatches to
    ``upgrade_<engine>()``: those are run one after the other instead.
    """
    function = getattr(module, direction, None)
    if not callable(function):
        return None
    code = getattr(function, "__code__", None)
    if code is not None and code.co_argcount == len(getattr(function, "__defaults__", None) or ()):
        return function  # type: ignore[no-any-return]  # the common case, without inspect
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return function  # type: ignore[no-any-return]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not any(p.default is p.empty and p.kind in positional for p in parameters):
        return function  # type: ignore[no-any-return]
    per_engine = [
        value
        for name, value in sorted(vars(module).items())
        if name.startswith(f"{direction}_") and callable(value)
    ]
    if not per_engine:
        return function  # type: ignore[no-any-return]

    def run_every_engine() -> None:
        for engine_function in per_engine:
            engine_function()

    return run_every_engine


class Analyzer:
    """Runs the rules over revisions; holds the settings and the state carried along a history."""

    def __init__(
        self,
        *,
        target_version: int = DEFAULT_TARGET_VERSION,
        select: Sequence[str] = (),
        ignore: Sequence[str] = (),
        check_downgrade: bool = True,
        config: Config | None = None,
        lock_timeout_by_runner: bool = False,
        use_models: bool = True,
    ) -> None:
        self.target_version = target_version
        self.select = tuple(s.upper() for s in select)
        self.ignore = tuple(i.upper() for i in ignore)
        self.check_downgrade = check_downgrade
        self.config = config
        self.facts = SchemaFacts()
        self.rules: list[Rule] = [
            rule
            for rule in registry
            if _enabled(rule.code, self.select, self.ignore)
            and rule.applies_to_version(target_version)
        ]
        self._rule_codes = {rule.code for rule in self.rules}
        self._revision_rules = [rule for rule in self.rules if rule.is_revision_rule()]
        self._session: RecordingSession | None = None
        self.lock_timeout_by_runner = lock_timeout_by_runner
        self.file_template = (
            config.get_alembic_option("file_template") if config is not None else None
        )
        self._use_models = use_models and config is not None
        self._models: MetaData | None = None
        self._models_loaded = False

    def models(self) -> MetaData | None:
        """env.py's ``target_metadata``, loaded once without a database (None if unavailable)."""
        if not self._use_models or self._models_loaded:
            return self._models
        self._models_loaded = True
        assert self.config is not None
        from alembic_safety.analysis.models import load_target_metadata

        self._models = load_target_metadata(self.config)
        return self._models

    # -- entry points -------------------------------------------------------------------------

    def assess_history(
        self,
        history: History,
        selected: Sequence[RevisionScript] | None = None,
        progress: Callable[[int, int, RevisionScript], None] | None = None,
    ) -> list[RevisionReport]:
        """Reports for ``selected`` (default: all) revisions, walking the history base → head.

        Every revision is executed in order, even unselected ones, so facts such as a CHECK
        validated in an earlier revision are known when a later one is judged.
        """
        wanted = {id(s) for s in (selected if selected is not None else history.scripts)}
        reports: list[RevisionReport] = []
        broken = self._history_violations(history)
        with RecordingSession(self.config) as self._session:
            for script in history.scripts:
                if id(script) not in wanted:
                    self._assess(script, history.search_paths, keep=False)
                    continue
                if progress is not None:
                    progress(len(reports) + 1, len(wanted), script)
                report = self._assess(script, history.search_paths, keep=True)
                if (
                    script.revision in history.unlabelled_heads
                    and len(history.unlabelled_heads) > 1
                ):
                    self._add_multiple_heads(report, history.unlabelled_heads)
                report.findings.extend(broken.get(id(script), ()))
                reports.append(report)
        return reports

    def _history_violations(self, history: History) -> dict[int, list[Finding]]:
        """Findings of history-level rules (a broken revision graph), by script."""
        rule = registry.get(UNREACHABLE_REVISION)
        if rule is None or rule.code not in self._rule_codes:
            return {}
        check_history = getattr(rule, "check_history", None)
        if check_history is None:
            return {}
        found: dict[int, list[Finding]] = {}
        for script, violation in check_history(history):
            finding = _finding(rule, violation, None, str(script.path))
            found.setdefault(id(script), []).append(replace(finding, operation="history"))
        return found

    def assess_file(self, path: Path) -> RevisionReport:
        """Report for one revision file on its own (no history: facts start empty)."""
        history = load_history([path], [path.absolute().parent, path.absolute().parent.parent])
        if not history.scripts:
            return RevisionReport(revision=None, path=str(path), error="not a revision file")
        with RecordingSession(self.config) as self._session:
            return self._assess(history.scripts[0], history.search_paths, keep=True)

    def assess_operations(
        self,
        operations: list[ops.MigrateOperation],
        *,
        direction: Direction = "upgrade",
        new_tables: set[str] | None = None,
        autocommit: bool = False,
    ) -> list[Finding]:
        """Findings for operation objects that did not come from a file (e.g. autogenerate)."""
        recording = record_operations(
            operations, direction=direction, new_tables=new_tables or (), autocommit=autocommit
        )
        findings: list[Finding] = []
        self._run_rules(
            recording,
            RuleContext(
                self.target_version,
                recording,
                self.facts,
                lock_timeout_by_runner=self.lock_timeout_by_runner,
            ),
            None,
            findings,
        )
        return findings

    # -- internals ----------------------------------------------------------------------------

    def _assess(
        self, script: RevisionScript, search_paths: Sequence[Path], *, keep: bool
    ) -> RevisionReport:
        report = RevisionReport(
            revision=script.revision,
            path=str(script.path),
            down_revision=script.down_revision,
            error=script.error,
            doc=script.doc,
        )
        if script.module is None:
            report.error = script.error or "not loaded"
            return report
        findings: list[Finding] = []
        errors: list[str] = []
        upgrade = self._record(script, "upgrade", search_paths, errors)
        facts_before = self.facts.copy()
        self.facts.settings = {}
        models = self.models()
        self._run_rules(
            upgrade,
            RuleContext(
                self.target_version,
                upgrade,
                self.facts,
                models=models,
                lock_timeout_by_runner=self.lock_timeout_by_runner,
            ),
            script,
            findings,
        )
        downgrade: Recording | None = None
        if self.check_downgrade:
            downgrade = self._record(script, "downgrade", search_paths, errors)
            context = RuleContext(
                self.target_version,
                downgrade,
                self.facts.copy(),
                made_by_upgrade=UpgradeProducts.of(upgrade.records),
                models=models,
                lock_timeout_by_runner=self.lock_timeout_by_runner,
            )
            self._run_rules(downgrade, context, script, findings)
        revision = RevisionContext(
            target_version=self.target_version,
            revision=script.revision,
            path=str(script.path),
            source=script.source,
            upgrade=upgrade,
            downgrade=downgrade,
            facts=facts_before,
            models=models,
            file_template=self.file_template,
            lock_timeout_by_runner=self.lock_timeout_by_runner,
        )
        self._run_revision_rules(revision, script, findings)
        if errors:
            report.error = "; ".join(errors)
        report.stand_ins = dict(script.stand_ins)
        if keep:
            report.findings = sorted(
                self._apply_suppressions(script, findings),
                key=lambda f: (f.direction != "upgrade", f.line or 0),
            )
        return report

    def _record(
        self,
        script: RevisionScript,
        direction: Direction,
        search_paths: Sequence[Path],
        errors: list[str],
    ) -> Recording:
        function = _direction_function(script.module, direction)
        if function is None:
            recording = Recording(direction)
            if direction == "upgrade":
                errors.append("no upgrade() function")
            return recording
        from alembic_safety.analysis.standins import tolerant_imports

        with tolerant_imports(script.stand_ins.__setitem__, search_paths):
            assert self._session is not None, "recording happens inside a RecordingSession"
            recording = self._session.record(function, path=str(script.path), direction=direction)
        declared_irreversible = direction == "downgrade" and (recording.error or "").startswith(
            "NotImplementedError"
        )
        if recording.error is not None and not declared_irreversible:
            where = f" at line {recording.error_line}" if recording.error_line else ""
            errors.append(
                f"{direction}() stopped{where} ({recording.error}); "
                "operations before it were analysed"
            )
        return recording

    def _run_rules(
        self,
        recording: Recording,
        context: RuleContext,
        script: RevisionScript | None,
        findings: list[Finding],
    ) -> None:
        path = str(script.path) if script is not None else None
        for record in recording.records:
            for rule in registry.for_operation(record.operation):
                if rule.code not in self._rule_codes:
                    continue
                if not rule.applies_to_new_tables and (
                    record.table_is_new or context.undoes_upgrade(record)
                ):
                    continue
                for violation in rule.check(record, context):
                    findings.append(_finding(rule, violation, record, path))
            _update_facts(context.facts, record)

    def _run_revision_rules(
        self, revision: RevisionContext, script: RevisionScript, findings: list[Finding]
    ) -> None:
        path = str(script.path)
        for rule in self._revision_rules:
            for violation in rule.check_revision(revision):
                findings.append(_finding(rule, violation, violation.record, path))

    def _add_multiple_heads(self, report: RevisionReport, heads: Iterable[str]) -> None:
        rule = registry.get(MULTIPLE_HEADS)
        if rule is None or rule.code not in self._rule_codes:
            return
        others = ", ".join(h for h in heads if h != report.revision)
        report.findings.append(
            Finding(
                code=rule.code,
                name=rule.name,
                risk=rule.risk,
                message=f"revision {report.revision} is one of several heads (also: {others}); "
                "`alembic upgrade head` fails until they are merged",
                help=f'alembic merge -m "merge heads" {report.revision} {others.replace(",", "")}',
                file=report.path,
                operation="history",
                escalation=rule.escalation,
            )
        )

    def _apply_suppressions(self, script: RevisionScript, findings: list[Finding]) -> list[Finding]:
        suppressions = parse_suppressions(script.source, script.statement_line)
        if not suppressions:
            return findings
        result: list[Finding] = []
        for finding in findings:
            result.append(self._suppress(finding, suppressions, script))
        path = str(script.path)
        for suppression in suppressions:
            if not suppression.reason and _enabled(
                SUPPRESSION_WITHOUT_REASON, self.select, self.ignore
            ):
                result.append(
                    self._meta_finding(
                        SUPPRESSION_WITHOUT_REASON,
                        path,
                        suppression.line,
                        script.direction_at(suppression.target_line),
                        f"suppression of {', '.join(suppression.codes)} has no reason, "
                        "so it is not applied",
                        f"# alembic-safety: ignore[{', '.join(suppression.codes)}] "
                        "<why this is safe here>",
                    )
                )
            unused = [c for c in suppression.codes if c not in suppression.used]
            if (
                suppression.reason
                and unused
                and _enabled(UNUSED_SUPPRESSION, self.select, self.ignore)
            ):
                result.append(
                    self._meta_finding(
                        UNUSED_SUPPRESSION,
                        path,
                        suppression.line,
                        script.direction_at(suppression.target_line),
                        f"suppression of {', '.join(unused)} matches no finding on this statement",
                        "remove the stale suppression comment (or move it to the statement it is "
                        "meant for)",
                    )
                )
        return result

    def _suppress(
        self, finding: Finding, suppressions: list[Suppression], script: RevisionScript
    ) -> Finding:
        if finding.line is None:
            return finding
        targets = {script.statement_line(n) for n in finding.lines}
        for suppression in suppressions:
            if suppression.target_line in targets and suppression.matches(
                finding.code, finding.name
            ):
                if not suppression.reason:
                    suppression.used.update(suppression.codes)
                    continue
                suppression.used.update(
                    c for c in suppression.codes if c in (finding.code, finding.name, "ALL")
                )
                return Finding(
                    **{
                        **finding.__dict__,
                        "suppressed": True,
                        "suppression_reason": suppression.reason,
                    }
                )
        return finding

    def _meta_finding(
        self, code: str, path: str, line: int, direction: Direction, message: str, help_: str
    ) -> Finding:
        rule = registry.get(code)
        return Finding(
            direction=direction,
            code=code,
            name=rule.name if rule else code,
            risk=rule.risk if rule else Risk.LOW,
            message=message,
            help=help_,
            file=path,
            line=line,
            lines=(line,),
            operation="comment",
        )
