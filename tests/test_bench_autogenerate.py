"""Smoke test of ``bench/bench_autogenerate.py``: a tiny run, so the script cannot rot.

The figures are not checked (a 3-table run on a shared machine says nothing about overhead);
what is checked is that the three variants ran through the real ``alembic`` executable and in
process, that the rewriter wrote its chain (the script stops if a variant writes the wrong
number of files), and that the ratios are printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.mark.slow
def test_benchmark_runs_with_a_tiny_model() -> None:
    try:
        with psycopg.connect(SERVER, connect_timeout=2):
            pass
    except psycopg.Error:
        pytest.skip(f"no PostgreSQL at {SERVER}")
    result = subprocess.run(
        [sys.executable, "bench/bench_autogenerate.py", "--tables", "3", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    number = r"\s+([\d.]+)"
    rows = re.findall(rf"^(.+?)\s+(off|headers|on){number * 5}$", result.stdout, re.M)
    commands = [
        "alembic.command.revision (in process)",
        "alembic revision --autogenerate (subprocess)",
    ]
    assert [(name.strip(), variant) for name, variant, *_ in rows] == [
        (command, variant) for command in commands for variant in ("off", "headers", "on")
    ]
    # columns: wall, best, CPU, CPU vs off, CPU vs headers
    assert [row[5] for row in rows if row[1] == "off"] == ["1.00", "1.00"]
    assert [row[6] for row in rows if row[1] == "headers"] == ["1.00", "1.00"]
    assert re.search(
        r"^target: rewrites enabled vs disabled <= 5% overhead \(CPU time\): (met|NOT met)$",
        result.stdout,
        re.M,
    )
