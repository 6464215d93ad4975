"""Precision and recall of the linter on a labelled Alembic project.

``tests/data/precision/`` is a small but realistic Alembic project (the "bazaar" marketplace:
``alembic.ini``, ``migrations/env.py`` with the models of ``bazaar/models.py``, one linear
chain of revisions in ``migrations/versions/``). Its revision files are the test set: every
line of ``upgrade()``/``downgrade()`` where an operation's statement starts carries a label,

* ``# expect: AS106`` (one or more codes, comma-separated): the operation is dangerous and
  the linter must report exactly these codes on this line (the finding's ``line``, i.e. the
  statement in ``upgrade()``/``downgrade()`` that led to the operation: the call site of a
  helper, the body line of a loop — a loop's findings count once per (line, code));
* ``# expect: safe``: the linter must report nothing at all on this line.

Revision-level findings are labelled where the linter reports them: AS405 on the operation on
the second table, AS504 on the first data statement, AS604 on the upgrade operation that is
not undone, AS603 on the ``def downgrade()`` line (or on the ``raise NotImplementedError``).

Advisory codes: a fixed set of LOW findings is advice that applies to nearly every revision
or is about comments and file names rather than operations — AS406 (missing lock_timeout),
AS902 (online data access), AS903/AS904 (suppression comments), AS605 (file name template).
They are excluded from both the expected and the found sets. Every other code counts,
including the LOW ones (AS603 on a data-only revision, AS604), so an unexpected finding of
any of them is a false positive.

The measure is the honest one: ``found`` is every unsuppressed finding of the whole history,
in both directions, not only those on labelled lines, so any finding nobody expected counts as
a false positive; ``expected`` is every code of every label.

    precision = |expected ∩ found| / |found|        recall = |expected ∩ found| / |expected|

When the linter and a label disagree, the label follows PostgreSQL's behaviour and the rule's
documentation; it is not changed to make the figures pass.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from alembic_safety.engine import Analyzer
from alembic_safety.loading import discover_from_config, load_config, load_history
from alembic_safety.risk import Finding, RevisionReport
from alembic_safety.rules import registry

PROJECT = Path(__file__).resolve().parent / "data" / "precision"
TARGET_VERSION = 15

#: LOW advice left out of the measurement, from both the expected and the found sets.
ADVISORY = frozenset({"AS406", "AS902", "AS903", "AS904", "AS605"})

MIN_PRECISION = 0.97
MIN_RECALL = 0.97

#: The size the test set must keep, so that the figures mean something.
MIN_LABELLED_LINES = 120
MIN_DANGEROUS_LINES = 40

_LABEL = re.compile(r"^#\s*expect:\s*(?P<codes>.+?)\s*$")
_CODE = re.compile(r"^AS\d{3}$")

Key = tuple[str, int, str]  # (revision file name, line, code)


@dataclass(frozen=True)
class Label:
    file: str
    line: int
    codes: frozenset[str]  # empty for "safe"

    @property
    def safe(self) -> bool:
        return not self.codes


@dataclass(frozen=True, repr=False)
class Measurement:
    labels: dict[tuple[str, int], Label]
    reports: list[RevisionReport]
    findings: list[Finding]  # unsuppressed, both directions, advisory codes included
    expected: frozenset[Key]
    found: frozenset[Key]

    @property
    def true_positives(self) -> frozenset[Key]:
        return self.expected & self.found

    @property
    def false_positives(self) -> list[Key]:
        return sorted(self.found - self.expected)

    @property
    def false_negatives(self) -> list[Key]:
        return sorted(self.expected - self.found)

    @property
    def precision(self) -> float:
        return len(self.true_positives) / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        return len(self.true_positives) / len(self.expected) if self.expected else 1.0


def read_labels(path: Path) -> list[Label]:
    """The ``# expect:`` comments of one revision file (comment tokens only, not strings)."""
    labels: list[Label] = []
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = _LABEL.match(token.string)
        if match is None:
            continue
        words = [w.strip() for w in match.group("codes").split(",")]
        codes = frozenset() if words == ["safe"] else frozenset(words)
        labels.append(Label(path.name, token.start[0], codes))
    return labels


def _key(finding: Finding) -> Key:
    return (Path(finding.file).name if finding.file else "?", finding.line or 0, finding.code)


def _show(keys: list[Key], findings: dict[Key, Finding] | None = None) -> str:
    lines = []
    for file, line, code in keys:
        text = f"  {file}:{line} {code}"
        finding = (findings or {}).get((file, line, code))
        if finding is not None:
            text += f" [{finding.direction}] {' '.join(finding.message.split())[:150]}"
        lines.append(text)
    return "\n".join(lines) if lines else "  (none)"


def summary(m: Measurement) -> str:
    by_key = {_key(f): f for f in m.findings}
    dangerous = [label for label in m.labels.values() if not label.safe]
    expected_by_code = Counter(code for _, _, code in m.expected)
    found_by_code = Counter(code for _, _, code in m.found)
    hit_by_code = Counter(code for _, _, code in m.true_positives)
    per_code = "\n".join(
        f"  {code}  expected {expected_by_code[code]:3d}  found {found_by_code[code]:3d}  "
        f"true positives {hit_by_code[code]:3d}"
        for code in sorted(set(expected_by_code) | set(found_by_code))
    )
    return (
        f"precision/recall of alembic-safety on {PROJECT.relative_to(PROJECT.parents[2])} "
        f"(PostgreSQL {TARGET_VERSION}, advisory codes excluded: {', '.join(sorted(ADVISORY))})\n"
        f"  revisions {len(m.reports)}, labelled lines {len(m.labels)} "
        f"({len(dangerous)} dangerous, {len(m.labels) - len(dangerous)} safe)\n"
        f"  expected {len(m.expected)}, found {len(m.found)}, "
        f"true positives {len(m.true_positives)}, false positives {len(m.false_positives)}, "
        f"false negatives {len(m.false_negatives)}\n"
        f"  precision {m.precision:.3f} (minimum {MIN_PRECISION}), "
        f"recall {m.recall:.3f} (minimum {MIN_RECALL})\n"
        f"per code:\n{per_code}\n"
        f"false positives (found, not expected):\n{_show(m.false_positives, by_key)}\n"
        f"false negatives (expected, not found):\n{_show(m.false_negatives)}"
    )


@pytest.fixture(scope="module")
def measurement() -> Measurement:
    config = load_config(str(PROJECT / "alembic.ini"))
    files, search_paths = discover_from_config(config)
    history = load_history(files, search_paths)
    reports = Analyzer(target_version=TARGET_VERSION, config=config).assess_history(history)

    labels: dict[tuple[str, int], Label] = {}
    for path in files:
        for label in read_labels(path):
            labels[(label.file, label.line)] = label
    findings = [f for report in reports for f in report.active_findings]
    expected = frozenset(
        (label.file, label.line, code)
        for label in labels.values()
        for code in label.codes
        if code not in ADVISORY
    )
    found = frozenset(_key(f) for f in findings if f.code not in ADVISORY)
    return Measurement(labels, reports, findings, expected, found)


def test_test_set_is_a_linear_history_that_loads(measurement: Measurement) -> None:
    files, _ = discover_from_config(load_config(str(PROJECT / "alembic.ini")))
    assert len(measurement.reports) == len(files) >= 25
    chain = [(report.revision, report.down_revision) for report in measurement.reports]
    parents = [None, *(revision for revision, _ in chain[:-1])]
    assert [down for _, down in chain] == parents, chain
    for report in measurement.reports:
        # A downgrade raising NotImplementedError declares the revision irreversible; any
        # other error would mean part of the test set was not analysed.
        if report.error is not None:
            assert report.error.startswith("downgrade() stopped"), (report.path, report.error)
            assert "NotImplementedError" in report.error, (report.path, report.error)


def test_labels_are_well_formed(measurement: Measurement) -> None:
    known = {rule.code for rule in registry}
    problems = []
    for label in measurement.labels.values():
        for code in label.codes:
            if not _CODE.match(code):
                problems.append(f"{label.file}:{label.line} malformed code {code!r}")
            elif code not in known:
                problems.append(f"{label.file}:{label.line} unknown code {code}")
            elif code in ADVISORY:
                problems.append(f"{label.file}:{label.line} advisory code {code} is not measured")
    assert not problems, "\n".join(problems)
    dangerous = [label for label in measurement.labels.values() if not label.safe]
    assert len(measurement.labels) >= MIN_LABELLED_LINES
    assert len(dangerous) >= MIN_DANGEROUS_LINES


def test_precision_and_recall(measurement: Measurement) -> None:
    report = summary(measurement)
    print("\n" + report)
    precision, recall = measurement.precision, measurement.recall
    assert precision >= MIN_PRECISION, report
    assert recall >= MIN_RECALL, report


def test_safe_lines_have_no_finding(measurement: Measurement) -> None:
    """A line labelled safe gets no finding at all, LOW ones included (advisory codes aside)."""
    safe = {key for key, label in measurement.labels.items() if label.safe}
    offending = sorted(
        _key(f)
        for f in measurement.findings
        if f.code not in ADVISORY and (_key(f)[0], _key(f)[1]) in safe
    )
    by_key = {_key(f): f for f in measurement.findings}
    assert not offending, "findings on lines labelled safe:\n" + _show(offending, by_key)
