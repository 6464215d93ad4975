"""``# alembic-safety: ignore[CODE] reason`` comments: where they apply, what they need."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project, findings_of, line_of, run_main, write_revision

from alembic_safety.risk import Finding, RevisionReport, Risk, assess_revision

#: The rules these tests exercise (other rules, e.g. advisory ones, are left out).
SELECT = ("AS301", "AS106", "AS903", "AS904")


def assess(tmp_path: Path, upgrade: str, *, module_body: str = "") -> tuple[RevisionReport, Path]:
    path = write_revision(tmp_path / "versions", "5afe", None, upgrade, module_body=module_body)
    return assess_revision(path, select=SELECT), path


def by_code(report: RevisionReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def test_suppression_on_the_same_line(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        'op.drop_column("users", "fax")  # alembic-safety: ignore[AS301] unused since 2019',
    )
    [finding] = report.findings
    assert finding.code == "AS301"
    assert finding.suppressed
    assert finding.suppression_reason == "unused since 2019"
    assert report.active_findings == []
    assert report.risk is Risk.LOW
    assert not report.escalate


def test_suppression_on_the_line_above(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        # alembic-safety: ignore[AS301] unused since 2019
        op.drop_column("users", "fax")
        op.drop_column("users", "pager")
        """,
    )
    suppressed = {f.line: f.suppressed for f in by_code(report, "AS301")}
    assert suppressed == {line_of(path, '"fax"'): True, line_of(path, '"pager"'): False}
    assert [f.code for f in report.findings if f.code.startswith("AS90")] == []


def test_suppression_on_an_inner_line_of_a_multi_line_statement(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.drop_column(
            "users",
            "fax",  # alembic-safety: ignore[AS301] unused since 2019
        )
        op.drop_column(
            "users",
            # alembic-safety: ignore[AS301] comment line inside the call
            "pager",
        )
        """,
    )
    findings = by_code(report, "AS301")
    assert [f.line for f in findings] == [
        line_of(path, "op.drop_column(", 1),
        line_of(path, "op.drop_column(", 2),
    ]
    assert all(f.suppressed for f in findings)
    assert [f.suppression_reason for f in findings] == [
        "unused since 2019",
        "comment line inside the call",
    ]


def test_suppression_above_a_multi_line_statement(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        """
        # alembic-safety: ignore[AS301] unused since 2019
        op.drop_column(
            "users",
            "fax",
        )
        """,
    )
    [finding] = report.findings
    assert finding.suppressed


@pytest.mark.parametrize("written", ["drop-column", "DROP-COLUMN", "as301", "AS301, AS106"])
def test_suppression_by_name_or_code_in_any_case(tmp_path: Path, written: str) -> None:
    report, _ = assess(
        tmp_path, f'op.drop_column("users", "fax")  # alembic-safety: ignore[{written}] gone'
    )
    [drop] = by_code(report, "AS301")
    assert drop.suppressed
    assert drop.suppression_reason == "gone"


def test_suppression_in_a_helper_at_the_helper_line(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        'add_index("orders", "a")',
        module_body="""
        def add_index(table, column):
            op.create_index(  # alembic-safety: ignore[AS106] orders is tiny
                f"ix_{table}_{column}", table, [column]
            )
        """,
    )
    [finding] = report.findings
    assert finding.code == "AS106"
    assert finding.suppressed


def test_suppression_without_reason_is_not_applied_and_reported(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path, 'op.drop_column("users", "fax")  # alembic-safety: ignore[AS301]'
    )
    [drop] = by_code(report, "AS301")
    assert not drop.suppressed
    [meta] = by_code(report, "AS903")
    assert meta.line == line_of(path, '"fax"')
    assert "AS301" in meta.message
    assert by_code(report, "AS904") == []  # not also "unused"
    assert report.risk is Risk.HIGH


def test_unused_suppression_is_reported(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.drop_column("users", "fax")  # alembic-safety: ignore[AS106] wrong code
        # alembic-safety: ignore[AS301] stale, nothing dangerous below
        op.add_column("users", sa.Column("bio", sa.Text()))
        op.drop_column("users", "pager")  # alembic-safety: ignore[AS301, AS106] one unused
        """,
    )
    unused = {(f.line, f.message) for f in by_code(report, "AS904")}
    assert {line for line, _ in unused} == {
        line_of(path, '"fax"'),
        line_of(path, "stale, nothing"),
        line_of(path, '"pager"'),
    }
    pager_message = next(m for line, m in unused if line == line_of(path, '"pager"'))
    assert "AS106" in pager_message
    assert "AS301" not in pager_message
    suppressed = {f.line: f.suppressed for f in by_code(report, "AS301")}
    assert suppressed == {line_of(path, '"fax"'): False, line_of(path, '"pager"'): True}


def test_suppression_text_in_a_string_literal_is_not_a_suppression(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        '''
        note = """
        # alembic-safety: ignore[AS301] inside a triple-quoted string
        """
        op.drop_column("users", "fax")
        op.execute("SELECT '# alembic-safety: ignore[AS301] sql'"); op.drop_column("users", "b")
        ''',
    )
    drops = by_code(report, "AS301")
    assert len(drops) == 2
    assert not any(f.suppressed for f in drops)
    assert by_code(report, "AS904") == []


def test_meta_rules_can_be_ignored(tmp_path: Path) -> None:
    path = write_revision(
        tmp_path / "versions",
        "5afe",
        None,
        'op.drop_column("users", "fax")  # alembic-safety: ignore[AS301]',
    )
    report = assess_revision(path, select=SELECT, ignore=["AS903"])
    assert [f.code for f in report.findings] == ["AS301"]


def test_suppress_all_codes(tmp_path: Path) -> None:
    """Regression: ``ALL`` was lower-cased like a rule name and matched nothing."""
    report, _ = assess(
        tmp_path, 'op.drop_column("users", "fax")  # alembic-safety: ignore[ALL] data archived'
    )
    [finding] = report.findings
    assert finding.suppressed


def test_suppressed_findings_in_reports_and_exit_code(project: Project) -> None:
    project.revision(
        "a1", None, 'op.drop_column("users", "fax")  # alembic-safety: ignore[AS301] archived'
    )
    result = run_main("check", "--format", "json", "--select", "AS301,AS9", cwd=project.root)
    assert result.code == 0
    document = result.json()
    [finding] = findings_of(document, "a1")
    assert finding["suppressed"] is True
    assert finding["suppression_reason"] == "archived"
    assert document["revisions"][0]["risk"] == "LOW"
    assert document["summary"]["suppressed"] == 1
    assert document["summary"]["findings"] == 0

    hidden = run_main("check", "--select", "AS301,AS9", cwd=project.root)
    assert "AS301" not in hidden.out
    shown = run_main("check", "--select", "AS301,AS9", "--show-suppressed", cwd=project.root)
    assert "AS301" in shown.out
    assert "suppressed: archived" in shown.out


def test_suppression_findings_name_the_function_they_are_in(tmp_path: Path) -> None:
    path = write_revision(
        tmp_path / "versions",
        "5afe",
        None,
        'op.drop_column("orders", "legacy")  # alembic-safety: ignore[AS106] stale: not an index',
        'op.drop_column("orders", "note")  # alembic-safety: ignore[AS301]',
    )
    report = assess_revision(path, select=SELECT)
    [unused] = by_code(report, "AS904")
    [no_reason] = by_code(report, "AS903")
    assert (unused.direction, no_reason.direction) == ("upgrade", "downgrade")
    assert no_reason.line == line_of(path, 'op.drop_column("orders", "note")')
