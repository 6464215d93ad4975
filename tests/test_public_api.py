"""The stable API in ``alembic_safety.risk``: side-effect-free import, ``assess_*``, risk maths."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.operations import ops

from alembic_safety.risk import (
    Finding,
    RevisionReport,
    Risk,
    assess_operations,
    assess_sql,
)

#: Codes these tests are about; advisory rules added later must not break them.
CORE = frozenset({"AS101", "AS102", "AS106", "AS301", "AS302", "AS304", "AS401", "AS501", "AS901"})


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings if f.code in CORE]


def test_importing_the_risk_api_loads_no_analysis_machinery() -> None:
    script = (
        "import json, sys\nimport alembic_safety.risk\nprint(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert "alembic_safety.risk" in loaded
    heavy = {
        "alembic_safety.engine",
        "alembic_safety.rules",
        "alembic_safety.analysis.recorder",
        "alembic_safety.analysis.sql",
        "pglast",
        "alembic",
        "sqlalchemy",
    }
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def _not_null_column() -> ops.AddColumnOp:
    return ops.AddColumnOp("t", sa.Column("c", sa.Integer(), nullable=False))


def test_assess_operations_flags_a_not_null_column() -> None:
    [finding] = [f for f in assess_operations([_not_null_column()]) if f.code == "AS101"]
    assert finding.code == "AS101"
    assert finding.table == "t"
    assert finding.risk is Risk.MEDIUM
    assert finding.operation == "add_column"
    assert finding.direction == "upgrade"
    assert finding.line is None
    assert finding.file is None
    assert 'sa.Column("c", sa.Integer(), nullable=True)' in finding.help


def test_assess_operations_on_a_new_table_is_clean() -> None:
    assert assess_operations([_not_null_column()], new_tables={"t"}) == []
    assert assess_operations([_not_null_column()], new_tables=["other"]) != []


def test_assess_operations_knows_tables_created_earlier_in_the_list() -> None:
    created = ops.CreateTableOp("t", [sa.Column("id", sa.Integer(), primary_key=True)])
    index = ops.CreateIndexOp("ix_t_id", "t", ["id"])
    assert assess_operations([created, _not_null_column(), index]) == []
    assert codes(assess_operations([_not_null_column(), index])) == ["AS101", "AS106"]


def test_assess_operations_walks_autogenerate_containers() -> None:
    upgrade_ops = ops.UpgradeOps(
        ops=[ops.ModifyTableOps("t", [_not_null_column(), ops.DropColumnOp("t", "old")])]
    )
    assert codes(assess_operations([upgrade_ops])) == ["AS101", "AS301"]


def test_assess_operations_direction_is_reported() -> None:
    found = assess_operations([ops.DropTableOp("t")], direction="downgrade")
    [finding] = [f for f in found if f.code == "AS302"]
    assert finding.direction == "downgrade"


def test_assess_sql() -> None:
    [plain] = [f for f in assess_sql("CREATE INDEX ix ON t (a)") if f.code == "AS106"]
    assert plain.table == "t"
    assert plain.operation == "execute"

    assert codes(assess_sql("CREATE INDEX CONCURRENTLY ix ON t (a)")) == ["AS401"]

    assert assess_sql("CREATE INDEX CONCURRENTLY ix ON t (a)", autocommit=True) == []
    assert codes(assess_sql("CREATE INDEX ix ON t (a)", autocommit=True)) == ["AS106"]
    assert assess_sql("CREATE INDEX ix ON t (a)", new_tables=["t"]) == []
    assert assess_sql("") == []
    assert assess_sql("SELECT 1") == []


def test_assess_sql_several_statements() -> None:
    found = assess_sql("UPDATE t SET a = 1; DELETE FROM u; CREATE INDEX ix ON v (a)")
    core = [(f.code, f.table) for f in found if f.code in CORE]
    assert core == [("AS501", "t"), ("AS304", "u"), ("AS106", "v")]


def test_assess_sql_unparseable() -> None:
    assert codes(assess_sql("ALTER TABEL t ADD COLUMN c int")) == ["AS901"]


def test_assess_sql_target_version() -> None:
    constant = "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0"
    assert assess_sql(constant, target_version=15) == []
    volatile = "ALTER TABLE t ADD COLUMN c float8 DEFAULT random()"
    assert codes(assess_sql(volatile, target_version=11)) == ["AS102"]
    assert codes(assess_sql(volatile, target_version=15)) == ["AS102"]


def test_assess_sql_commit_in_the_same_string_is_still_a_transaction() -> None:
    """One multi-statement string is one implicit transaction block on the server (25001)."""
    assert codes(assess_sql("COMMIT; CREATE INDEX CONCURRENTLY ix ON t (a)")) == ["AS401"]


def test_risk_ordering_and_parse() -> None:
    assert Risk.LOW < Risk.MEDIUM < Risk.HIGH < Risk.CRITICAL
    assert max([Risk.MEDIUM, Risk.CRITICAL, Risk.LOW]) is Risk.CRITICAL
    assert sorted(Risk) == [Risk.LOW, Risk.MEDIUM, Risk.HIGH, Risk.CRITICAL]
    assert str(Risk.HIGH) == "HIGH"
    assert Risk.parse("high") is Risk.HIGH
    assert Risk.parse("  Critical ") is Risk.CRITICAL
    with pytest.raises(ValueError, match="LOW, MEDIUM, HIGH, CRITICAL") as info:
        Risk.parse("severe")
    assert "'severe'" in str(info.value)


def _finding(
    code: str, risk: Risk, *, suppressed: bool = False, escalation: str | None = None
) -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        risk=risk,
        message="m",
        suppressed=suppressed,
        escalation=escalation,
    )


def test_revision_report_risk_and_escalation() -> None:
    empty = RevisionReport(revision="a", path=None)
    assert empty.risk is Risk.LOW
    assert not empty.escalate
    assert empty.reasons == []

    report = RevisionReport(
        revision="a",
        path=None,
        findings=[
            _finding("AS101", Risk.MEDIUM),
            _finding("AS302", Risk.CRITICAL, suppressed=True, escalation="drops a table"),
            _finding("AS301", Risk.HIGH, escalation="drops a column"),
            _finding("AS301", Risk.HIGH, escalation="drops a column"),
            _finding("AS501", Risk.HIGH, escalation="rewrites data"),
        ],
    )
    assert report.risk is Risk.HIGH  # the suppressed CRITICAL does not count
    assert len(report.active_findings) == 4
    assert report.escalate
    assert report.reasons == ["drops a column", "rewrites data"]

    only_suppressed = RevisionReport(
        revision="b",
        path=None,
        findings=[_finding("AS302", Risk.CRITICAL, suppressed=True, escalation="x")],
    )
    assert only_suppressed.risk is Risk.LOW
    assert not only_suppressed.escalate
