"""Benchmark: ``alembic-safety check`` against Alembic's own offline render, side by side.

Why: the linter must be cheap enough to run on every commit of a long-lived project. The fair
baseline is what Alembic itself does with the same history without a database,
``alembic upgrade base:head --sql``: import every revision and run every upgrade() through an
offline context. Both run in the same session on the same generated chain, so the ratio does not
depend on the machine. Target (issue #3): ratio <= 1.0 and peak memory < 300 MB.

Usage::

    python bench/bench_check.py [--revisions 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def run_measured(command: Sequence[str], cwd: Path) -> tuple[float, float, int]:
    """Run ``command``; return (wall seconds, peak RSS in MB, exit code), output discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if process.stderr is not None:
        process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, code


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CI"] = "1"  # no progress output
    return env


def measure(label: str, command: Sequence[str], cwd: Path, repeat: int) -> dict[str, float]:
    times: list[float] = []
    peaks: list[float] = []
    for _ in range(repeat):
        elapsed, peak, code = run_measured(command, cwd)
        if code not in (0, 1):  # alembic-safety exits 1 on findings: expected here
            raise SystemExit(f"{label} failed with exit code {code}: {' '.join(command)}")
        times.append(elapsed)
        peaks.append(peak)
    return {"median": statistics.median(times), "best": min(times), "peak_mb": max(peaks)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alembic_safety_bench_") as tmp:
        project = Path(tmp) / "chain"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate_chain.py"),
                str(project),
                "--revisions",
                str(args.revisions),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        baseline = measure(
            "alembic upgrade --sql",
            [str(BIN / "alembic"), "upgrade", "base:head", "--sql"],
            project,
            args.repeat,
        )
        check = measure(
            "alembic-safety check", [str(BIN / "alembic-safety"), "check"], project, args.repeat
        )
        plugin = measure(
            "alembic safety-check",
            [str(BIN / "alembic"), "-x", "dry_run=false", "safety-check"],
            project,
            args.repeat,
        )
    print(f"revisions: {args.revisions}, repeats: {args.repeat} (median wall time, peak RSS)")
    print(f"{'command':<40} {'median s':>9} {'best s':>8} {'peak MB':>8} {'ratio':>6}")
    rows = [
        ("alembic upgrade base:head --sql", baseline),
        ("alembic-safety check", check),
        ("alembic safety-check", plugin),
    ]
    for name, result in rows:
        ratio = result["median"] / baseline["median"]
        print(
            f"{name:<40} {result['median']:>9.2f} {result['best']:>8.2f} "
            f"{result['peak_mb']:>8.1f} {ratio:>6.2f}"
        )
    ok = check["median"] <= baseline["median"] and check["peak_mb"] < 300
    print(f"target ratio <= 1.00 and peak < 300 MB: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
