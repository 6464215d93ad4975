"""End to end: the real ``alembic`` (with the plugin) and ``alembic-safety`` executables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ALEMBIC, ALEMBIC_SAFETY, Project, line_of, run_alembic, run_cli

pytestmark = pytest.mark.slow

RISKS = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}


@pytest.fixture
def dangerous(project: Project) -> Project:
    """A clean base revision and one with a HIGH finding (AS106) and a MEDIUM one (AS101)."""
    project.revision(
        "aaa111",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer()))',
        'op.drop_table("t")',
    )
    project.revision(
        "bbb222",
        "aaa111",
        """
        op.add_column("users", sa.Column("status", sa.Integer(), nullable=False))
        op.create_index(
            "ix_users_email",
            "users",
            ["email"],
        )
        """,
        'op.drop_index("ix_users_email", table_name="users")',
    )
    return project


def test_executables_are_installed() -> None:
    assert ALEMBIC.is_file()
    assert ALEMBIC_SAFETY.is_file()


def test_alembic_help_lists_safety_check(tmp_path: Path) -> None:
    result = run_alembic("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "safety-check" in result.stdout


def test_alembic_safety_check_fails_on_a_dangerous_revision(dangerous: Project) -> None:
    result = run_alembic("safety-check", cwd=dangerous.root)
    assert result.returncode == 1, result.stderr
    path = dangerous.versions / "bbb222_revision.py"
    index_line = line_of(path, "op.create_index(")
    assert "bbb222" in result.stdout
    assert "AS106" in result.stdout
    assert f"line {index_line}" in result.stdout
    assert "create-index-non-concurrently" in result.stdout
    assert "FAILED (fail-on HIGH)" in result.stdout
    assert "Traceback" not in result.stderr


def test_alembic_x_fail_on_critical_passes_a_high_only_project(dangerous: Project) -> None:
    # -x is an option of the alembic command itself, so it comes before the subcommand;
    # dry_run=false keeps this about the lint's verdict (the dry run has its own tests)
    result = run_alembic(
        "-x",
        "fail_on=CRITICAL",
        "-x",
        "dry_run=false",
        "safety-check",
        "-r",
        "base:head",
        cwd=dangerous.root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AS106" in result.stdout
    assert "2 revision(s) checked" in result.stdout
    assert "passed (fail-on CRITICAL)" in result.stdout


def test_alembic_x_format_json_with_revision_range(dangerous: Project) -> None:
    result = run_alembic(
        "-x", "format=json", "safety-check", "-r", "bbb222:head", cwd=dangerous.root
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert [r["revision"] for r in document["revisions"]] == ["bbb222"]
    assert {"AS101", "AS106"} <= {f["code"] for f in document["revisions"][0]["findings"]}


def test_alembic_safety_check_outside_a_project(tmp_path: Path) -> None:
    result = run_alembic("safety-check", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "script_location" in line


def test_pre_commit_mode_with_a_versions_directory_and_no_config(
    dangerous: Project, tmp_path: Path
) -> None:
    versions = tmp_path / "elsewhere" / "versions"
    shutil.copytree(dangerous.versions, versions)
    result = run_cli("check", "--format", "json", "versions", cwd=versions.parent)
    assert not (versions.parent / "alembic.ini").exists()
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [r["revision"] for r in document["revisions"]] == ["aaa111", "bbb222"]
    assert {"AS101", "AS106"} <= {f["code"] for f in document["revisions"][1]["findings"]}


def test_pre_commit_mode_with_one_changed_file_has_clean_stderr(dangerous: Project) -> None:
    """Regression: a parent missing from the files given leaked Alembic UserWarnings."""
    result = run_cli("check", "migrations/versions/bbb222_revision.py", cwd=dangerous.root)
    assert result.returncode == 1
    assert "AS106" in result.stdout
    assert "UserWarning" not in result.stderr
    assert result.stderr == ""


def _assert_json_shape(document: dict[str, Any]) -> None:
    assert set(document) == {"schema_version", "tool", "target", "revisions", "summary"}
    assert document["schema_version"] == 1
    assert document["tool"]["name"] == "alembic-safety"
    assert isinstance(document["tool"]["version"], str)
    assert document["target"] == {"dialect": "postgresql", "version": 15}
    revision_keys = {
        "revision",
        "down_revision",
        "path",
        "risk",
        "escalate",
        "reasons",
        "error",
        "findings",
    }
    finding_keys = {
        "code",
        "name",
        "risk",
        "direction",
        "line",
        "operation",
        "table",
        "message",
        "help",
        "suppressed",
    }
    for revision in document["revisions"]:
        assert revision_keys <= set(revision)
        assert revision["risk"] in RISKS
        assert isinstance(revision["escalate"], bool)
        assert isinstance(revision["reasons"], list)
        assert isinstance(revision["path"], str)
        for finding in revision["findings"]:
            assert finding_keys <= set(finding)
            assert finding["risk"] in RISKS
            assert finding["direction"] in ("upgrade", "downgrade")
            assert isinstance(finding["suppressed"], bool)
            assert finding["line"] is None or isinstance(finding["line"], int)
    summary = document["summary"]
    assert set(summary["by_risk"]) == RISKS
    assert isinstance(summary["failed"], bool)


def test_json_output_shape_and_values(dangerous: Project) -> None:
    result = run_cli("check", "--format", "json", cwd=dangerous.root)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    _assert_json_shape(document)
    base, head = document["revisions"]
    assert base["revision"] == "aaa111"
    assert base["down_revision"] is None
    assert base["risk"] == "LOW"
    assert base["findings"] == []
    assert head["revision"] == "bbb222"
    assert head["down_revision"] == "aaa111"
    assert head["risk"] == "HIGH"
    assert head["error"] is None
    path = dangerous.versions / "bbb222_revision.py"
    assert Path(head["path"]) == path.resolve()
    by_code = {f["code"]: f for f in head["findings"]}
    assert {"AS101", "AS106"} <= set(by_code)
    index = by_code["AS106"]
    assert index["line"] == line_of(path, "op.create_index(")
    assert index["risk"] == "HIGH"
    assert index["direction"] == "upgrade"
    assert index["operation"] == "create_index"
    assert index["table"] == "users"
    assert index["name"] == "create-index-non-concurrently"
    assert "postgresql_concurrently=True" in index["help"]
    assert index["suppressed"] is False
    assert by_code["AS101"]["line"] == line_of(path, "op.add_column(")
    assert by_code["AS101"]["risk"] == "MEDIUM"
    active = [f for r in document["revisions"] for f in r["findings"] if not f["suppressed"]]
    assert document["summary"]["findings"] == len(active)
    assert document["summary"]["by_risk"] == {
        level: sum(1 for f in active if f["risk"] == level) for level in RISKS
    }
    assert document["summary"]["by_risk"]["HIGH"] >= 1
    assert document["summary"]["by_risk"]["CRITICAL"] == 0
    assert document["summary"]["failed"] is True
    assert document["summary"]["max_risk"] == "HIGH"


def test_missing_config_is_exit_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("alembic-safety: error:")
    assert "alembic.ini" in line


def test_nonexistent_path_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("check", "no/such/versions", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "no/such/versions" in line
    assert "Traceback" not in result.stderr


def test_bogus_fail_on_is_exit_2(dangerous: Project) -> None:
    result = run_cli("check", "--fail-on", "BOGUS", cwd=dangerous.root)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "BOGUS" in line
    assert result.stdout == ""


def test_rules_explain_and_version(tmp_path: Path) -> None:
    rules = run_cli("rules", cwd=tmp_path)
    assert rules.returncode == 0
    codes = [line.split()[0] for line in rules.stdout.splitlines() if line.strip()]
    assert "AS101" in codes
    assert codes == sorted(codes)
    assert "add-not-null-column-without-default" in rules.stdout

    explain = run_cli("explain", "AS101", cwd=tmp_path)
    assert explain.returncode == 0
    assert explain.stdout.startswith("# AS101 add-not-null-column-without-default")
    assert "## Use instead" in explain.stdout

    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0
    from alembic_safety import __version__

    assert version.stdout.strip() == f"alembic-safety {__version__}"
