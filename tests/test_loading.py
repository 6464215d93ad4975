"""Loading a history: tolerant imports, helper modules, broken files, ordering, branches,
revision ranges and the places an Alembic configuration can live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    MakeProject,
    Project,
    codes_of,
    findings_of,
    line_of,
    run_main,
    write_revision,
    write_scaffold,
)

from alembic_safety.risk import assess_revision

DROP = 'op.drop_column("users", "{col}")'


def revisions_of(document: dict[str, Any]) -> list[str | None]:
    return [entry["revision"] for entry in document["revisions"]]


# -- tolerant imports ------------------------------------------------------------------------------


def test_missing_application_imports_become_stand_ins(project: Project) -> None:
    path = project.revision(
        "a1",
        None,
        """
        op.add_column(C.TABLE, sa.Column("x", GUID(), nullable=False))
        op.add_column("users", sa.Column("y", MyType(), nullable=False))
        op.add_column("users", sa.Column("z", sqlalchemy_utils.UUIDType(), nullable=False))
        op.create_index("ix_users_x", "users", [Base.metadata.tables])
        """,
        extra_imports="""
        from myapp.models import Base, GUID
        import sqlalchemy_utils
        from myapp import constants as C
        """,
        module_body="""
        class MyType(GUID):
            cache_ok = True
        """,
    )
    report = assess_revision(path)
    assert report.error is None
    not_null = [f for f in report.findings if f.code == "AS101"]
    assert [f.line for f in not_null] == [
        line_of(path, "C.TABLE"),
        line_of(path, "MyType(), nullable=False"),
        line_of(path, "sqlalchemy_utils.UUIDType()"),
    ]
    assert [f.code for f in report.findings if f.line == line_of(path, "ix_users_x")] == ["AS106"]
    # the report says what was stood in for (the library sqlalchemy_utils is not project code)
    assert set(report.stand_ins) >= {"myapp.models", "myapp"}
    verbose = run_main("check", "--verbose", cwd=project.root).out
    assert "stand-in: myapp.models (" in verbose
    assert run_main("check", "--format", "json", cwd=project.root).json()["revisions"][0][
        "stand_ins"
    ]


def test_stand_in_table_name_is_not_rendered_as_none(project: Project) -> None:
    """Regression: stand-in classes are falsy; the name must still reach the finding."""
    path = project.revision(
        "a1",
        None,
        'op.add_column(C.TABLE, sa.Column("x", sa.Integer(), nullable=False))',
        extra_imports="from myapp import constants as C",
    )
    [finding] = [f for f in assess_revision(path).findings if f.code == "AS101"]
    assert finding.table is not None
    assert "None" not in finding.help


@pytest.mark.parametrize(
    ("location", "module_name"),
    [("migrations", "helpers"), ("migrations/versions", "_helpers"), (".", "migration_utils")],
)
def test_helper_module_next_to_the_versions_is_imported_for_real(
    project: Project, location: str, module_name: str
) -> None:
    helper = project.root / location / f"{module_name}.py"
    helper.write_text(
        "from alembic import op\n\n\n"
        "def add_index(table, column):\n"
        '    op.create_index(f"ix_{table}_{column}", table, [column])\n',
        encoding="utf-8",
    )
    path = project.revision(
        "a1",
        None,
        'add_index("orders", "created_at")',
        extra_imports=f"from {module_name} import add_index",
    )
    result = run_main("check", "--format", "json", cwd=project.root)
    document = result.json()
    assert revisions_of(document) == ["a1"]  # the helper is not a revision
    [finding] = [f for f in findings_of(document, "a1") if f["code"] == "AS106"]
    assert finding["table"] == "orders"
    assert finding["line"] == line_of(path, 'add_index("orders"')
    assert document["revisions"][0]["error"] is None


@pytest.mark.parametrize("failure", ["raise ImportError('settings')", "raise RuntimeError('db')"])
def test_project_module_that_fails_at_import_becomes_a_stand_in(
    project: Project, failure: str
) -> None:
    (project.root / "myapp_settings.py").write_text(failure + "\n", encoding="utf-8")
    path = project.revision(
        "a1",
        None,
        """
        op.add_column("users", sa.Column("t", settings.ColumnType(), nullable=False))
        op.drop_column("users", "legacy")
        """,
        extra_imports="import myapp_settings as settings",
    )
    document = run_main("check", "--format", "json", cwd=project.root).json()
    [entry] = document["revisions"]
    assert entry["error"] is None
    core = [(f["code"], f["line"]) for f in entry["findings"] if f["code"] in ("AS101", "AS301")]
    assert core == [
        ("AS101", line_of(path, '"t"')),
        ("AS301", line_of(path, '"legacy"')),
    ]


# -- broken files ----------------------------------------------------------------------------------


def test_syntax_error_revision_is_reported_and_others_analysed(project: Project) -> None:
    project.revision("a1", None, 'op.add_column("users", sa.Column("x", sa.Text()))')
    project.revision("b2", "a1", 'op.drop_table("oops"', filename="b2_broken.py")
    result = run_main("check", "--format", "json", cwd=project.root)
    document = result.json()
    assert result.code == 0, result.out
    by_path = {Path(e["path"]).name: e for e in document["revisions"]}
    assert set(by_path) == {"a1_revision.py", "b2_broken.py"}
    assert by_path["a1_revision.py"]["error"] is None
    broken = by_path["b2_broken.py"]["error"]
    assert broken is not None
    assert "syntax error" in broken
    assert document["summary"]["errors"] == 1

    strict = run_main("check", "--strict", cwd=project.root)
    assert strict.code == 1
    assert "b2_broken.py" in strict.out
    assert "FAILED (fail-on HIGH, strict)." in strict.out  # the summary agrees with the exit code
    summary = run_main("check", "--strict", "--format", "json", cwd=project.root).json()["summary"]
    assert (summary["strict"], summary["failed"]) == (True, True)


def test_duplicate_revision_ids_are_both_reported(project: Project) -> None:
    project.revision("a1", None, DROP.format(col="x"))
    project.revision("a1", None, DROP.format(col="y"), filename="a1_copy.py")
    document = run_main("check", "--format", "json", cwd=project.root).json()
    by_path = {Path(e["path"]).name: e for e in document["revisions"]}
    assert set(by_path) == {"a1_revision.py", "a1_copy.py"}  # neither file silently dropped
    errors = [e["error"] for e in by_path.values()]
    [error] = [e for e in errors if e is not None]
    assert error.startswith("revision id a1 is also declared by ")
    # both files are still analysed: each one's own drop is reported
    assert all(any(f["code"] == "AS301" for f in e["findings"]) for e in by_path.values())
    assert run_main("check", "--strict", cwd=project.root).code == 1


def test_revision_failing_at_import_is_reported_and_others_analysed(project: Project) -> None:
    project.revision("a1", None, DROP.format(col="x"))
    project.revision("b2", "a1", module_body="raise ValueError('module level')")
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert "AS301" in codes_of(document, "a1")
    [broken] = [e for e in document["revisions"] if e["revision"] == "b2"]
    assert "ValueError" in broken["error"]
    assert "module level" in broken["error"]


def test_python_file_without_revision_is_not_a_revision(project: Project) -> None:
    project.revision("a1", None, DROP.format(col="x"))
    (project.versions / "shared.py").write_text(
        "from alembic import op\n\nTABLES = ['a', 'b']\n", encoding="utf-8"
    )
    (project.versions / "__init__.py").write_text("", encoding="utf-8")
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert revisions_of(document) == ["a1"]
    assert document["summary"]["revisions"] == 1


# -- ordering and graph ----------------------------------------------------------------------------


def test_history_is_ordered_base_to_head_whatever_the_file_names(project: Project) -> None:
    chain = [("c0ffee01", None), ("c0ffee02", "c0ffee01"), ("c0ffee03", "c0ffee02")]
    names = ["zzz_first.py", "aaa_second.py", "mmm_third.py"]
    for (rev, down), name in zip(chain, names, strict=True):
        project.revision(rev, down, DROP.format(col=rev), filename=name)
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert revisions_of(document) == ["c0ffee01", "c0ffee02", "c0ffee03"]


def test_branches_and_merge_revision(project: Project) -> None:
    project.revision("base0", None, DROP.format(col="b0"), filename="9_base.py")
    project.revision("left1", "base0", DROP.format(col="l1"), filename="1_left.py")
    project.revision("right1", "base0", DROP.format(col="r1"), filename="2_right.py")
    project.revision("merge2", ("left1", "right1"), DROP.format(col="m2"), filename="0_merge.py")
    result = run_main("check", "--format", "json", cwd=project.root)
    document = result.json()
    order = revisions_of(document)
    assert sorted(order, key=str) == ["base0", "left1", "merge2", "right1"]
    assert order[0] == "base0"
    assert order[-1] == "merge2"
    [merge] = [e for e in document["revisions"] if e["revision"] == "merge2"]
    assert merge["down_revision"] == ["left1", "right1"]
    # a merged history has one head: no multiple-heads finding anywhere
    assert all("AS601" not in codes_of(document, rev) for rev in order)


def test_multiple_heads_are_reported_on_each_head(project: Project) -> None:
    project.revision("base0", None)
    project.revision("head1", "base0")
    project.revision("head2", "base0")
    result = run_main("check", "--format", "json", cwd=project.root)
    document = result.json()
    assert codes_of(document, "base0") == []
    for head, other in (("head1", "head2"), ("head2", "head1")):
        [finding] = [f for f in findings_of(document, head) if f["code"] == "AS601"]
        assert finding["risk"] == "MEDIUM"
        assert other in finding["message"]
    assert result.code == 0  # MEDIUM is below the default fail_on (HIGH)
    assert run_main("check", "--fail-on", "MEDIUM", cwd=project.root).code == 1


# -- revision ranges -------------------------------------------------------------------------------


@pytest.fixture
def chain(project: Project) -> Project:
    """aaa111 <- bbb222 <- ccc333, each with one HIGH finding."""
    project.revision("aaa111", None, DROP.format(col="a"))
    project.revision("bbb222", "aaa111", DROP.format(col="b"))
    project.revision("ccc333", "bbb222", DROP.format(col="c"))
    return project


@pytest.mark.parametrize(
    ("revision_range", "expected"),
    [
        ("base:head", ["aaa111", "bbb222", "ccc333"]),
        ("base:heads", ["aaa111", "bbb222", "ccc333"]),
        ("bbb222:head", ["bbb222", "ccc333"]),
        ("bbb:head", ["bbb222", "ccc333"]),
        ("aaa111:bbb222", ["aaa111", "bbb222"]),
        ("ccc333:ccc333", ["ccc333"]),
        (":bbb222", ["aaa111", "bbb222"]),
        ("bbb222:", ["bbb222", "ccc333"]),
    ],
)
@pytest.mark.parametrize("flag", ["-r", "--revision-range"])
def test_revision_range_selects_revisions(
    chain: Project, revision_range: str, expected: list[str], flag: str
) -> None:
    result = run_main("check", "--format", "json", flag, revision_range, cwd=chain.root)
    assert result.code == 1
    document = result.json()
    assert revisions_of(document) == expected
    assert document["summary"]["revisions"] == len(expected)


@pytest.mark.parametrize("revision_range", ["nope:head", "garbage", "ccc333:aaa111"])
def test_bad_revision_range_is_a_one_line_usage_error(chain: Project, revision_range: str) -> None:
    result = run_main("check", "-r", revision_range, cwd=chain.root)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("alembic-safety: error:")
    assert "Traceback" not in result.err


# -- where the configuration lives -----------------------------------------------------------------


def _pyproject_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_scaffold(root)
    (root / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\n', encoding="utf-8"
    )
    write_revision(root / "migrations" / "versions", "a1", None, DROP.format(col="x"))
    return root


def test_pyproject_toml_without_alembic_ini(tmp_path: Path) -> None:
    root = _pyproject_project(tmp_path / "proj")
    assert not (root / "alembic.ini").exists()
    for args in (("-c", "pyproject.toml"), ()):
        result = run_main("check", "--format", "json", *args, cwd=root)
        assert result.code == 1, result.err
        assert "AS301" in codes_of(result.json(), "a1")
    elsewhere = run_main("check", "--format", "json", "-c", root / "pyproject.toml", cwd=tmp_path)
    assert "AS301" in codes_of(elsewhere.json(), "a1")


def test_two_version_locations(make_project: MakeProject) -> None:
    project = make_project()
    other = project.root / "more_versions"
    ini = project.ini.read_text(encoding="utf-8")
    locations = os.pathsep.join(["%(here)s/migrations/versions", "%(here)s/more_versions"])
    project.ini.write_text(
        ini.replace("[alembic]\n", f"[alembic]\nversion_locations = {locations}\n"),
        encoding="utf-8",
    )
    project.revision("aaa111", None, DROP.format(col="a"))
    write_revision(other, "bbb222", "aaa111", DROP.format(col="b"))
    write_revision(other, "ccc333", "bbb222", DROP.format(col="c"), filename="0_ccc.py")
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert revisions_of(document) == ["aaa111", "bbb222", "ccc333"]
    paths = {e["revision"]: Path(e["path"]).parent.name for e in document["revisions"]}
    assert paths == {"aaa111": "versions", "bbb222": "more_versions", "ccc333": "more_versions"}


def test_explicit_config_file_that_does_not_exist(tmp_path: Path) -> None:
    result = run_main("check", "-c", "nowhere.ini", cwd=tmp_path)
    assert result.code == 2
    [line] = result.err.splitlines()
    assert "nowhere.ini" in line


def test_ini_without_script_location_is_a_usage_error(project: Project) -> None:
    project.ini.write_text("[alembic]\nsqlalchemy.url = sqlite://\n", encoding="utf-8")
    result = run_main("check", cwd=project.root)
    assert result.code == 2
    [line] = result.err.splitlines()
    assert "script_location" in line


def test_explain_unknown_rule_is_a_usage_error(tmp_path: Path) -> None:
    result = run_main("explain", "AS999", cwd=tmp_path)
    assert result.code == 2
    [line] = result.err.splitlines()
    assert "AS999" in line


def test_explain_by_name(tmp_path: Path) -> None:
    result = run_main("explain", "drop-table", cwd=tmp_path)
    assert result.code == 0
    assert result.out.startswith("# AS302 drop-table")


# -- revision code that misbehaves -----------------------------------------------------------------


def test_print_in_a_revision_does_not_corrupt_json_output(project: Project) -> None:
    project.revision(
        "a1",
        None,
        """
        print("migrating users...")
        op.drop_column("users", "fax")
        """,
    )
    result = run_main("check", "--format", "json", cwd=project.root)
    assert result.code == 1
    assert "AS301" in codes_of(result.json(), "a1")


def test_sys_exit_in_upgrade_does_not_end_the_run(project: Project) -> None:
    project.revision(
        "a1",
        None,
        """
        op.drop_column("users", "fax")
        import sys
        sys.exit(0)
        """,
    )
    project.revision("b2", "a1", 'op.drop_column("users", "pager")')
    result = run_main("check", "--format", "json", cwd=project.root)
    assert result.code == 1
    document = result.json()
    assert "AS301" in codes_of(document, "a1")
    assert "AS301" in codes_of(document, "b2")
    [first] = [e for e in document["revisions"] if e["revision"] == "a1"]
    assert "SystemExit" in first["error"]


MULTIDB_REVISION = '''\
"""a revision of Alembic's own ``multidb`` template"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name: str) -> None:
    globals()["downgrade_%s" % engine_name]()


def upgrade_engine1() -> None:
    op.drop_column("users", "fax")


def downgrade_engine1() -> None:
    pass
'''


def test_multidb_template_revisions_are_analysed(project: Project) -> None:
    (project.versions / "a1_multidb.py").write_text(MULTIDB_REVISION, encoding="utf-8")
    ini = project.ini.read_text(encoding="utf-8")
    project.ini.write_text(ini.replace("[alembic]\n", "[alembic]\ndatabases = engine1\n"))
    document = run_main("check", "--format", "json", cwd=project.root).json()
    [entry] = document["revisions"]
    assert entry["error"] is None
    assert "AS301" in codes_of(document, "a1")
