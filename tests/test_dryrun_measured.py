"""The dry run's measurements in ``safety-check``: ``--since``, measured findings, estimates.

Measured locks and rewrites confirm static findings or become AS701/AS702 findings; revisions
that block writes on an existing table are timed at two sizes and their duration extrapolated to
production row counts (``--production-rows`` / ``--stats-url``, read only).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from conftest import MakeProject, Project
from test_dryrun import SERVER, needs_server

from alembic_safety.cli import main
from alembic_safety.dryrun.estimate import (
    apply_estimates,
    extrapolate,
    fit_line,
    read_reltuples,
    stats_connection,
)
from alembic_safety.dryrun.measured import (
    LONG_ESTIMATE_REASON,
    apply_measurements,
    measure_revision,
)
from alembic_safety.dryrun.report import (
    DryRunReport,
    Estimate,
    LockRecord,
    RevisionResult,
    render_text,
)
from alembic_safety.risk import Finding, RevisionReport, Risk

# -- units: the maths and the merge -----------------------------------------------------------


def test_linear_fit_and_extrapolation() -> None:
    # 2 ms fixed + 0.1 ms per row, measured at 100 and 1000 rows
    a, b = fit_line([(100, 12.0), (1000, 102.0)]) or (None, None)
    assert a == pytest.approx(2.0)
    assert b == pytest.approx(0.1)
    assert extrapolate([(100, 12.0), (1000, 102.0)], 10_000_000) == pytest.approx(1_000_002.0)
    # least squares through three points
    assert fit_line([(0, 1.0), (10, 2.0), (20, 3.0)]) == pytest.approx((1.0, 0.1))
    # a larger run that was faster is noise: flat at the mean, never negative
    assert fit_line([(100, 10.0), (1000, 8.0)]) == pytest.approx((9.0, 0.0))
    # one size only: no line
    assert fit_line([(100, 10.0)]) is None
    assert fit_line([(100, 10.0), (100, 12.0)]) is None
    assert extrapolate([(100, 10.0)], 10**6) is None


def test_production_counts_per_table_default_and_unknown() -> None:
    report = DryRunReport(database="server")
    for rev, tables in (("r2", ["t"]), ("r3", ["t", "audit.log"])):
        result = RevisionResult(revision=rev, path=None)
        result.estimate = Estimate(tables=tables, samples=[(100, 12.0), (1000, 102.0)])
        report.revisions.append(result)
    apply_estimates(report, per_table={"public.t": 1_000_000})
    r2, r3 = report.revisions
    assert r2.estimated_ms == pytest.approx(100_002.0)
    assert r3.estimated_ms is None  # audit.log's production size is unknown
    assert r3.to_dict()["estimated_ms"] is None
    assert "unknown (no production row counts for t, audit.log)" in render_text(report)
    apply_estimates(report, rows=500, per_table={"t": 1000})
    assert r3.estimate is not None
    assert r3.estimate.production_rows == {"t": 1000, "audit.log": 500}
    assert r3.estimated_ms == pytest.approx(2.0 + 0.1 * 1500)


def _finding(code: str, risk: Risk, table: str = "t") -> Finding:
    return Finding(code=code, name=code.lower(), risk=risk, message=f"{code} says so", table=table)


def test_measurements_confirm_or_add_findings() -> None:
    result = RevisionResult(revision="r2", path="r2.py", upgrade="passed")
    result.locks = [
        LockRecord("t", "AccessExclusiveLock", 3.0),
        LockRecord("u", "AccessExclusiveLock", 250.0),
        LockRecord("v", "ShareLock", 5.0),
        LockRecord("w", "RowExclusiveLock", 900.0),  # does not block writes
        LockRecord("fresh", "AccessExclusiveLock", 900.0, new=True),  # created by the revision
    ]
    result.rewritten = ["t", "x"]
    report = RevisionReport(revision="r2", path="r2.py", findings=[_finding("AS105", Risk.HIGH)])
    measure_revision(report, result)
    by_table = {f.table: f for f in report.findings}
    assert len(report.findings) == 4
    confirmed = by_table["t"]
    assert confirmed.code == "AS105"
    assert confirmed.measured
    assert confirmed.message.endswith(
        "(confirmed by the dry run: ACCESS EXCLUSIVE held 3 ms, rewritten)"
    )
    assert (by_table["u"].code, by_table["u"].risk) == ("AS701", Risk.MEDIUM)
    assert (by_table["v"].code, by_table["v"].risk) == ("AS701", Risk.LOW)
    assert "SHARE held 5 ms" in by_table["v"].message
    assert (by_table["x"].code, by_table["x"].risk) == ("AS702", Risk.HIGH)
    assert all(f.measured for f in report.findings)

    # a static lock-only claim (SET NOT NULL) is confirmed for the lock; the rewrite is new
    lock_only = RevisionReport(revision="r2", path=None, findings=[_finding("AS104", Risk.MEDIUM)])
    measure_revision(lock_only, result)
    codes = {(f.code, f.table) for f in lock_only.findings}
    assert ("AS104", "t") in codes
    assert ("AS702", "t") in codes
    assert next(f for f in lock_only.findings if f.code == "AS104").measured

    # advice that names the lock (AS406 has no lock of its own) is confirmed, nothing added
    brief = RevisionResult(revision="r3", path=None, upgrade="passed")
    brief.locks = [LockRecord("users", "AccessExclusiveLock", 0.0)]
    advice = replace(
        _finding("AS406", Risk.LOW, table="users"), message='ACCESS EXCLUSIVE lock on "users" ...'
    )
    timeout = RevisionReport(revision="r3", path=None, findings=[advice])
    measure_revision(timeout, brief)
    assert [f.code for f in timeout.findings] == ["AS406"]
    assert timeout.findings[0].message.endswith(
        "(confirmed by the dry run: ACCESS EXCLUSIVE held 0 ms)"
    )


def test_apply_measurements_escalates_long_estimates_and_honours_ignore() -> None:
    dry = DryRunReport(database="server")
    result = RevisionResult(revision="r2", path=None, upgrade="passed", rewritten=["t"])
    result.estimate = Estimate(tables=["t"], estimated_ms=6 * 60 * 1000.0)
    dry.revisions.append(result)
    report = RevisionReport(revision="r2", path=None)
    apply_measurements([report], dry, ignore=("AS7",))
    assert report.findings == []
    assert report.reasons == [LONG_ESTIMATE_REASON]
    assert report.escalate
    other = RevisionReport(revision="r2", path=None)
    apply_measurements([other], dry, select=("AS1", "AS702"))
    assert [f.code for f in other.findings] == ["AS702"]


# -- real runs --------------------------------------------------------------------------------


def t_project(make_project: MakeProject) -> Project:
    """r1 creates t (seeded by later revisions); r2 changes a type where the linter sees it;
    r3 hides the same change in a DO block; r4 recomputes every row slowly (USING: an md5 of
    100 kB a row)."""
    project = make_project()
    project.revision(
        "r1",
        None,
        """
        op.create_table(
            "t",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("a", sa.Integer(), nullable=False),
            sa.Column("b", sa.Integer(), nullable=False),
            sa.Column("c", sa.Integer(), nullable=False),
        )
        """,
        'op.drop_table("t")',
    )
    project.revision(
        "r2",
        "r1",
        'op.execute("ALTER TABLE t ALTER COLUMN a TYPE bigint")',
        'op.execute("ALTER TABLE t ALTER COLUMN a TYPE integer")',
    )
    project.revision(
        "r3",
        "r2",
        "op.execute(\"DO $$ BEGIN EXECUTE 'ALTER TABLE t ALTER COLUMN b TYPE bigint'; END $$\")",
        "op.execute(\"DO $$ BEGIN EXECUTE 'ALTER TABLE t ALTER COLUMN b TYPE integer'; END $$\")",
    )
    project.revision(
        "r4",
        "r3",
        'op.execute("ALTER TABLE t ALTER COLUMN c TYPE bigint '
        'USING c + 0 * length(md5(repeat(c::text, 20000)))")',
        'op.execute("ALTER TABLE t ALTER COLUMN c TYPE integer")',
    )
    return project


def safety_check(
    project: Project, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, Any]:
    code = main(
        ["safety-check", "-c", str(project.ini), "--test-url", SERVER, "--format", "json", *flags]
    )
    return code, json.loads(capsys.readouterr().out)


def findings_of(document: Any, rev: str) -> list[dict[str, Any]]:
    entry = next(r for r in document["revisions"] if r["revision"] == rev)
    return list(entry["findings"])


@needs_server
def test_measured_findings_and_estimate_in_safety_check(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = t_project(make_project)
    code, document = safety_check(project, capsys, "--production-rows", "t=10000000")
    assert code == 1  # the hidden rewrite is HIGH
    dry = {r["revision"]: r for r in document["dry_run"]["revisions"]}
    assert all(r["status"] == "passed" for r in dry.values()), json.dumps(dry, indent=1)

    # r2: the static AS105 is confirmed, no second finding for the same rewrite
    r2 = [
        f
        for f in findings_of(document, "r2")
        if f["direction"] == "upgrade" and f["code"] in ("AS105", "AS701", "AS702")
    ]
    assert [f["code"] for f in r2] == ["AS105"], r2
    assert r2[0]["measured"] is True
    assert "confirmed by the dry run: ACCESS EXCLUSIVE held" in r2[0]["message"]
    assert r2[0]["message"].endswith("rewritten)")

    # r3: the linter cannot see into the DO block; the dry run saw the rewrite
    r3 = findings_of(document, "r3")
    assert not any(f["code"] == "AS105" and f["direction"] == "upgrade" for f in r3)
    measured = [f for f in r3 if f["code"] == "AS702"]
    assert len(measured) == 1, r3
    assert measured[0]["risk"] == "HIGH"
    assert measured[0]["measured"] is True
    r3_report = next(r for r in document["revisions"] if r["revision"] == "r3")
    assert r3_report["risk"] in ("HIGH", "CRITICAL")

    # every measured revision is timed twice, 9 x 100 rows apart: r2 at 100 and 1,000 rows;
    # t keeps its rows, so r3 runs at 1,000 and 1,900, r4 at 1,900 and 2,800
    samples = {
        rev: [s["rows"] for s in dry[rev]["estimate"]["samples"]] for rev in dry if rev != "r1"
    }
    assert samples == {"r2": [100, 1000], "r3": [1000, 1900], "r4": [1900, 2800]}
    # r4, extrapolated to 10 million rows: far over five minutes
    estimate = dry["r4"]["estimate"]
    assert estimate["production_rows"] == {"t": 10_000_000}
    assert dry["r4"]["estimated_ms"] > 5 * 60 * 1000
    assert estimate["ms_per_row"] > 0.03  # ~0.2 ms of md5 per row
    r4_report = next(r for r in document["revisions"] if r["revision"] == "r4")
    assert LONG_ESTIMATE_REASON in r4_report["reasons"]
    assert r4_report["escalate"] is True
    # r1 created t: nothing measured, nothing estimated
    assert dry["r1"]["estimate"] is None
    assert dry["r1"]["estimated_ms"] is None
    print(  # the figures, for the record (pytest -s)
        {rev: (r["estimate"] or {}).get("samples") for rev, r in dry.items()},
        dry["r4"]["estimated_ms"],
    )


@needs_server
def test_since_checks_and_reports_only_later_revisions(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = t_project(make_project)
    code, document = safety_check(project, capsys, "--since", "r2", "--rows", "5")
    assert [r["revision"] for r in document["revisions"]] == ["r3", "r4"]
    assert [r["revision"] for r in document["dry_run"]["revisions"]] == ["r3", "r4"]
    assert document["dry_run"]["summary"]["ok"] is True
    assert code == 1  # r3's measured rewrite
    # no production sizes: estimates are measured but not extrapolated
    r4 = document["dry_run"]["revisions"][1]
    assert r4["estimated_ms"] is None
    assert len(r4["estimate"]["samples"]) == 2

    assert main(["dry-run", "-c", str(project.ini), "--test-url", SERVER, "--since", "r3"]) == 0
    text = capsys.readouterr().out
    assert "r4" in text
    assert " r3 " not in text
    assert "1 of 1 revisions checked" in text
    assert "estimated duration: unknown (no production row counts for t)" in text

    assert main(["safety-check", "-c", str(project.ini), "--since", "r2", "-r", "r1:r3"]) == 2
    assert "either since or a revision range" in capsys.readouterr().err
    assert main(["safety-check", "-c", str(project.ini), "--since", "nope"]) == 2


@pytest.fixture
def stats_table() -> Any:
    """A table with statistics in a schema of its own on the server; dropped afterwards."""
    schema = f"stats_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.t AS SELECT g AS id FROM generate_series(1, 5000) g")
        conn.execute(f"CREATE TABLE {schema}.never_analyzed (id int)")
        conn.execute(f"ANALYZE {schema}.t")
    yield schema
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@needs_server
def test_stats_url_reads_reltuples_on_a_read_only_session(stats_table: str) -> None:
    counts = read_reltuples(
        SERVER, [f"{stats_table}.t", f"{stats_table}.never_analyzed", f"{stats_table}.missing"]
    )
    assert counts == {f"{stats_table}.t": 5000}
    with stats_connection(SERVER) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO {stats_table}.t VALUES (0)")
        conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"CREATE TABLE {stats_table}.nope (id int)")
    report = DryRunReport(database="server")
    result = RevisionResult(revision="r2", path=None)
    result.estimate = Estimate(tables=[f"{stats_table}.t"], samples=[(100, 12.0), (1000, 102.0)])
    report.revisions.append(result)
    apply_estimates(report, stats_url=SERVER)
    assert result.estimated_ms == pytest.approx(2.0 + 0.1 * 5000)
