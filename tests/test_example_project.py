"""The example project is the README demo: its findings are pinned exactly.

It runs the real ``alembic`` executable (the stock CLI with our plugin) and the
``alembic-safety`` console script in subprocesses, from the example project's directory, the way
a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
BIN = Path(sys.executable).parent

#: (revision, direction, code, line, table) — every finding the example history must produce.
EXPECTED = [
    ("f614dd44ae78", "upgrade", "AS406", 24, "users"),
    ("cf1a5515013e", "upgrade", "AS101", 23, "orders"),
    ("cf1a5515013e", "upgrade", "AS406", 23, "orders"),
    ("cf1a5515013e", "upgrade", "AS106", 24, "orders"),
    ("cf1a5515013e", "downgrade", "AS107", 29, "orders"),
    ("9dc1f6595274", "upgrade", "AS105", 23, "order_items"),
    ("9dc1f6595274", "upgrade", "AS406", 23, "order_items"),
    ("9dc1f6595274", "upgrade", "AS501", 30, "products"),
    ("9dc1f6595274", "upgrade", "AS504", 30, "products"),
    ("9dc1f6595274", "downgrade", "AS105", 36, "order_items"),
    ("9dc1f6595274", "downgrade", "AS204", 36, "order_items"),
    ("8d6a70e84c1e", "upgrade", "AS406", 32, "orders"),
    ("3f1181dae515", "upgrade", "AS301", 23, "users"),
    ("3f1181dae515", "upgrade", "AS406", 23, "users"),
    ("3f1181dae515", "upgrade", "AS201", 24, "products"),
    ("3f1181dae515", "downgrade", "AS201", 29, "products"),
]

#: The chain ``alembic revision --autogenerate`` wrote with the rewriter on (expand, migrate
#: (VALIDATE), migrate (backfill), contract; ``tests/test_example_autogenerate.py`` keeps the
#: files current), so its findings are pinned without line numbers: (revision, direction, code,
#: table). The expand step's look at pg_index (is a leftover index INVALID?) reads the catalog,
#: not data: no AS902 there.
GENERATED = {"2c520b999c48", "2fa94f0b85b7", "0089de9080d1", "e533474a3398"}
EXPECTED_GENERATED = [
    ("0089de9080d1", "upgrade", "AS902", None),  # the keyset backfill needs a live database
    ("0089de9080d1", "upgrade", "AS902", None),
    ("0089de9080d1", "downgrade", "AS603", None),
    ("e533474a3398", "upgrade", "AS201", "order_items"),  # the shadow column's swap
    ("e533474a3398", "upgrade", "AS201", "order_items"),
    ("e533474a3398", "upgrade", "AS301", "order_items"),
    # NOT NULL through a validated CHECK (no AS104): its validation block counts NULLs
    ("e533474a3398", "upgrade", "AS902", None),
    ("e533474a3398", "downgrade", "AS902", None),
    ("e533474a3398", "downgrade", "AS902", None),
    ("e533474a3398", "downgrade", "AS201", "order_items"),
    ("e533474a3398", "downgrade", "AS201", "order_items"),
    ("e533474a3398", "downgrade", "AS902", None),
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "NO_COLOR": "1"}
    return subprocess.run(
        args, cwd=EXAMPLE, capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.slow
def test_exact_findings_through_the_stock_alembic_cli() -> None:
    result = _run(str(BIN / "alembic"), "-x", "format=json", "safety-check")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    found = [
        (r["revision"], f["direction"], f["code"], f["line"], f["table"])
        for r in document["revisions"]
        for f in r["findings"]
    ]
    assert [f for f in found if f[0] not in GENERATED] == EXPECTED
    assert [(r, d, c, t) for r, d, c, _, t in found if r in GENERATED] == EXPECTED_GENERATED
    risks = {r["revision"]: r["risk"] for r in document["revisions"]}
    assert risks["1a2401130dc0"] == "LOW"
    assert risks["3fed7f4c50d9"] == "LOW"  # plain indexes on tables created in the same revision
    assert risks["8d6a70e84c1e"] == "LOW"  # NOT VALID constraints (AS406 advice is LOW)
    assert risks["28110a4e03a9"] == "LOW"  # VALIDATE in its own revision
    assert risks["cf1a5515013e"] == "HIGH"
    # The rewriter's expand and migrate steps are safe; its contract is HIGH and escalated.
    assert risks["2c520b999c48"] == "LOW"  # expand
    assert risks["2fa94f0b85b7"] == "LOW"  # VALIDATE CONSTRAINT
    assert risks["0089de9080d1"] == "LOW"  # migrate: the batched backfill
    assert risks["e533474a3398"] == "HIGH"  # contract: drops quantity_old
    escalated = {r["revision"] for r in document["revisions"] if r["escalate"]}
    generated_escalated = {"0089de9080d1", "e533474a3398"}  # the data migration, the contract
    assert escalated == {"9dc1f6595274", "3f1181dae515", *generated_escalated}
    assert document["summary"]["revisions"] == 12


@pytest.mark.slow
def test_text_output_shows_safe_code_with_the_projects_names() -> None:
    result = _run(str(BIN / "alembic-safety"), "check")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "AS106 create-index-non-concurrently [HIGH]" in out
    assert (
        'op.create_index("ix_orders_created_at", "orders", ["created_at"], '
        "postgresql_concurrently=True)"
    ) in out
    assert out.rstrip().endswith("FAILED (fail-on HIGH).")


@pytest.mark.slow
def test_fail_on_critical_passes_the_lint_of_the_example() -> None:
    result = _run(
        str(BIN / "alembic"), "-x", "fail_on=CRITICAL", "-x", "dry_run=false", "safety-check"
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_dry_run_catches_the_not_null_column_that_fails_with_rows() -> None:
    """The README demo: the lint says MEDIUM for AS101, the dry run (embedded PostgreSQL, 100
    seeded rows per table) proves it fails on deploy, whatever the failing level."""
    result = _run(
        str(BIN / "alembic"), "-x", "fail_on=CRITICAL", "-x", "format=json", "safety-check"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    dry_run = json.loads(result.stdout)["dry_run"]
    assert dry_run["database"] == "embedded"
    statuses = {r["revision"]: r["status"] for r in dry_run["revisions"]}
    assert statuses["f614dd44ae78"] == "passed"
    assert statuses["cf1a5515013e"] == "failed"
    failed = next(r for r in dry_run["revisions"] if r["revision"] == "cf1a5515013e")
    assert failed["error"]["step"] == "upgrade"
    assert failed["error"]["sqlstate"] == "23502"
    assert failed["error"]["line"] == 23


@pytest.mark.slow
def test_dry_run_passes_the_rewriters_revisions() -> None:
    """The generated chain, seeded, goes up, down and up again: every revision passes."""
    result = _run(
        str(BIN / "alembic-safety"), "dry-run", "--since", "3f1181dae515", "--format", "json"
    )
    dry_run = json.loads(result.stdout)["dry_run"]
    statuses = {r["revision"]: r["status"] for r in dry_run["revisions"]}
    assert statuses == dict.fromkeys(
        ["2c520b999c48", "2fa94f0b85b7", "0089de9080d1", "e533474a3398"], "passed"
    ), result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
