"""Settings: pyproject < alembic.ini < -x < flags, strict keys in files, select/ignore prefixes
and target_version gating."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MakeProject, Project, codes_of, ini_text, run_main

from alembic_safety.config import load_settings
from alembic_safety.loading import load_config
from alembic_safety.risk import Risk

MEDIUM_ONLY = 'op.add_column("users", sa.Column("status", sa.Integer(), nullable=False))'


def _write_pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text(f"[tool.alembic_safety]\n{body}\n", encoding="utf-8")


@pytest.fixture
def layered(make_project: MakeProject) -> Project:
    """pyproject says LOW and 11, alembic.ini says MEDIUM."""
    project = make_project({"fail_on": "MEDIUM"})
    _write_pyproject(project.root, 'fail_on = "LOW"\ntarget_version = 11\nselect = ["AS1"]')
    return project


def test_each_layer_overrides_the_one_below(layered: Project) -> None:
    config = load_config(str(layered.ini))
    files = load_settings(config)
    assert files.fail_on is Risk.MEDIUM  # ini beats pyproject
    assert files.target_version == 11  # only in pyproject: kept
    assert files.select == ("AS1",)
    assert "alembic.ini" in files.origin["fail_on"]
    assert "pyproject.toml" in files.origin["target_version"]

    x = load_settings(config, x_options={"fail_on": "HIGH", "target_version": "14"})
    assert (x.fail_on, x.target_version) == (Risk.HIGH, 14)
    assert x.origin["fail_on"] == "-x options"

    flags = load_settings(
        config,
        x_options={"fail_on": "HIGH"},
        overrides={"fail_on": "CRITICAL", "target_version": None},
    )
    assert flags.fail_on is Risk.CRITICAL
    assert flags.target_version == 11  # a flag left unset does not override
    assert flags.origin["fail_on"] == "command line"


def test_pyproject_alone_is_read(make_project: MakeProject) -> None:
    project = make_project()
    _write_pyproject(project.root, 'fail_on = "critical"\nignore = ["AS3", "as9"]')
    settings = load_settings(load_config(str(project.ini)))
    assert settings.fail_on is Risk.CRITICAL
    assert settings.ignore == ("AS3", "AS9")


def test_precedence_end_to_end_through_the_exit_code(layered: Project) -> None:
    """A MEDIUM finding: fails at LOW/MEDIUM, passes at HIGH/CRITICAL."""
    layered.revision("a1", None, MEDIUM_ONLY)
    root = layered.root
    assert run_main("check", cwd=root).code == 1  # ini MEDIUM
    assert run_main("check", "-x", "fail_on=HIGH", cwd=root).code == 0
    assert run_main("check", "-x", "fail_on=HIGH", "--fail-on", "MEDIUM", cwd=root).code == 1
    assert run_main("check", "-x", "fail_on=LOW", "--fail-on", "CRITICAL", cwd=root).code == 0

    (root / "alembic.ini").write_text(ini_text(), encoding="utf-8")  # pyproject LOW only now
    assert run_main("check", cwd=root).code == 1
    _write_pyproject(root, 'fail_on = "CRITICAL"')
    assert run_main("check", cwd=root).code == 0


@pytest.mark.parametrize("key", ["fial_on", "failon", "severity"])
def test_unknown_key_in_alembic_ini_is_an_error_naming_it(
    make_project: MakeProject, key: str
) -> None:
    project = make_project({key: "HIGH"})
    project.revision("a1", None, MEDIUM_ONLY)
    result = run_main("check", cwd=project.root)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert repr(key) in lines[0]
    assert "alembic.ini" in lines[0]


def test_unknown_key_in_pyproject_is_an_error(make_project: MakeProject) -> None:
    project = make_project()
    _write_pyproject(project.root, "fail_onn = 'HIGH'")
    result = run_main("check", cwd=project.root)
    assert result.code == 2
    assert "'fail_onn'" in result.err
    assert "pyproject.toml" in result.err


def test_dashed_keys_are_accepted(make_project: MakeProject) -> None:
    project = make_project({"fail-on": "critical", "check-downgrade": "no"})
    settings = load_settings(load_config(str(project.ini)))
    assert settings.fail_on is Risk.CRITICAL
    assert settings.check_downgrade is False


@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("ini", ()),
        ("x", ("-x", "fail_on=SEVERE")),
        ("flag", ("--fail-on", "SEVERE")),
    ],
)
def test_bad_fail_on_value_is_a_usage_error(
    make_project: MakeProject, where: str, args: tuple[str, ...]
) -> None:
    project = make_project({"fail_on": "SEVERE"} if where == "ini" else None)
    project.revision("a1", None, MEDIUM_ONLY)
    result = run_main("check", *args, cwd=project.root)
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert "fail_on" in line
    assert "SEVERE" in line
    assert "LOW, MEDIUM, HIGH, CRITICAL" in line


@pytest.mark.parametrize(
    ("key", "value"), [("target_version", "fifteen"), ("target_version", "4"), ("strict", "maybe")]
)
def test_bad_values_in_ini_are_usage_errors(
    make_project: MakeProject, key: str, value: str
) -> None:
    project = make_project({key: value})
    result = run_main("check", cwd=project.root)
    assert result.code == 2
    assert key in result.err
    assert "Traceback" not in result.err


def test_unknown_x_options_are_ignored(project: Project) -> None:
    project.revision("a1", None, 'op.drop_column("users", "fax")')
    result = run_main(
        "check", "-x", "unknown=1", "-x", "tenant=acme", "-x", "noequals", cwd=project.root
    )
    assert result.code == 1
    assert result.err == ""
    assert "AS301" in result.out


@pytest.fixture
def mixed(project: Project) -> Project:
    """One revision with findings from the 1xx, 3xx and 5xx families."""
    project.revision(
        "a1",
        None,
        """
        op.add_column("users", sa.Column("status", sa.Integer(), nullable=False))
        op.create_index("ix_users_status", "users", ["status"])
        op.drop_column("users", "fax")
        op.execute("UPDATE users SET status = 1")
        """,
    )
    return project


#: The findings ``mixed`` is built to produce; other (newer, advisory) rules may add more.
CORE = ("AS101", "AS106", "AS301", "AS501")


@pytest.mark.parametrize(
    ("args", "selected", "ignored", "expected"),
    [
        ((), (), (), ["AS101", "AS106", "AS301", "AS501"]),
        (("--select", "AS1"), ("AS1",), (), ["AS101", "AS106"]),
        (("--select", "as1"), ("AS1",), (), ["AS101", "AS106"]),
        (("--select", "AS10"), ("AS10",), (), ["AS101", "AS106"]),
        (("--select", "AS101,AS5"), ("AS101", "AS5"), (), ["AS101", "AS501"]),
        (("--select", "AS101", "--select", "AS301"), ("AS101", "AS301"), (), ["AS101", "AS301"]),
        (("--ignore", "AS1"), (), ("AS1",), ["AS301", "AS501"]),
        (("--select", "AS1", "--ignore", "AS106"), ("AS1",), ("AS106",), ["AS101"]),
        (("-x", "select=AS3"), ("AS3",), (), ["AS301"]),
        (("-x", "ignore=AS3 AS5"), (), ("AS3", "AS5"), ["AS101", "AS106"]),
    ],
)
def test_select_and_ignore_by_prefix(
    mixed: Project,
    args: tuple[str, ...],
    selected: tuple[str, ...],
    ignored: tuple[str, ...],
    expected: list[str],
) -> None:
    document = run_main("check", "--format", "json", *args, cwd=mixed.root).json()
    found = codes_of(document, "a1")
    assert sorted(c for c in found if c in CORE) == expected
    for code in found:
        assert not selected or code.startswith(selected), code
        assert not code.startswith(ignored or ("-",)), code


def test_select_in_ini(make_project: MakeProject) -> None:
    project = make_project({"select": "AS3, AS5"})
    project.revision(
        "a1", None, 'op.drop_column("users", "fax")\nop.create_index("ix", "users", ["a"])'
    )
    document = run_main("check", "--format", "json", cwd=project.root).json()
    found = codes_of(document, "a1")
    assert "AS301" in found
    assert all(code.startswith(("AS3", "AS5")) for code in found), found


# -- target_version gating -------------------------------------------------------------------------


@pytest.fixture
def validated_check_then_not_null(project: Project) -> Project:
    """rev1 validates CHECK (status IS NOT NULL); rev2 sets NOT NULL on the same column."""
    project.revision(
        "aaa111",
        None,
        """
        op.create_check_constraint(
            "ck_users_status_nn", "users", "status IS NOT NULL", postgresql_not_valid=True
        )
        op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_status_nn")
        """,
    )
    project.revision(
        "bbb222",
        "aaa111",
        """
        op.alter_column("users", "status", existing_type=sa.Integer(), nullable=False)
        op.alter_column("users", "other", existing_type=sa.Integer(), nullable=False)
        """,
    )
    return project


@pytest.mark.parametrize(
    ("args", "version", "flagged"),
    [
        ((), 15, ["other"]),
        (("--target-version", "12"), 12, ["other"]),
        (("--target-version", "11"), 11, ["status", "other"]),
        (("-x", "target_version=11"), 11, ["status", "other"]),
        (("-x", "target_version=11", "--target-version", "16"), 16, ["other"]),
        # the earlier, unselected revision still informs the later one
        (("-r", "bbb222:head"), 15, ["other"]),
        (("-r", "bbb222:head", "--target-version", "11"), 11, ["status", "other"]),
    ],
)
def test_set_not_null_after_validated_check_in_an_earlier_revision(
    validated_check_then_not_null: Project,
    args: tuple[str, ...],
    version: int,
    flagged: list[str],
) -> None:
    root = validated_check_then_not_null.root
    document = run_main("check", "--format", "json", "--select", "AS104", *args, cwd=root).json()
    assert document["target"]["version"] == version
    assert document["revisions"][-1]["revision"] == "bbb222"
    findings = [f for entry in document["revisions"] for f in entry["findings"]]
    assert {f["code"] for f in findings} <= {"AS104"}
    assert [f["message"].split('"')[1] for f in findings] == [f"users.{c}" for c in flagged]


def test_not_valid_check_without_validate_does_not_count(project: Project) -> None:
    project.revision(
        "aaa111",
        None,
        'op.create_check_constraint("ck", "users", "status IS NOT NULL", '
        "postgresql_not_valid=True)",
    )
    project.revision("bbb222", "aaa111", 'op.alter_column("users", "status", nullable=False)')
    document = run_main("check", "--format", "json", "--select", "AS104", cwd=project.root).json()
    assert codes_of(document, "bbb222") == ["AS104"]
