"""Benchmark: the dry run against plain ``alembic upgrade/downgrade/upgrade``, side by side.

Why: the dry run must be cheap enough for every CI run. Its fair baseline is what a careful
team already runs on a scratch database, ``alembic upgrade head && alembic downgrade base &&
alembic upgrade head``: every revision up, down and up again. The dry run does the same three
steps per revision (on a throwaway database it creates and drops itself) plus a schema snapshot
and a diff per revision and lock tracing, with seeding off (``rows = 0``) so both sides run the
same DDL on empty tables. Both run on the PostgreSQL service, one after the other, on the same
generated chain (``bench/generate_chain.py``), so the ratio does not depend on the machine.
Targets (issue #6): ratio <= 1.5; embedded server start + teardown <= 3 s.

Usage::

    python bench/bench_dryrun.py [--revisions 200] [--repeat 2] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DEFAULT_URL = os.environ.get(
    "ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)

DRY_RUN = """\
import sys
from alembic.config import Config
from alembic_safety.dryrun import run_dry_run

sys.exit(run_dry_run(Config(sys.argv[1]), test_url=sys.argv[2], rows=0, rows_per_table={},
                     revision_range=None, output_format="json", stream=sys.stdout,
                     trace_locks=True))
"""

EMBEDDED = """\
import time
start = time.perf_counter()
from alembic_safety.dryrun.databases import EmbeddedServer
server = EmbeddedServer()
server.start()
started = time.perf_counter()
server.stop()
print(f"{started - start:.3f} {time.perf_counter() - started:.3f}")
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CI"] = "1"  # no progress output
    env.pop("ALEMBIC_SAFETY_TEST_URL", None)
    return env


def run(command: Sequence[str], cwd: Path) -> float:
    """Wall time of ``command``; output discarded, a failure stops the benchmark."""
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")
    return elapsed


def _database_url(base: str, name: str) -> str:
    url = make_url(base).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def plain_alembic(project: Path, base_url: str) -> float:
    """upgrade head, downgrade base, upgrade head on a scratch database (created untimed)."""
    name = f"bench_plain_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    ini = project / "alembic.ini"
    text = ini.read_text(encoding="utf-8")
    url = _database_url(base_url, name)
    ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", text))
    try:
        alembic = str(BIN / "alembic")
        return sum(
            run([alembic, *step], project)
            for step in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"])
        )
    finally:
        ini.write_text(text, encoding="utf-8")
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def dry_run(project: Path, base_url: str) -> float:
    return run([sys.executable, "-c", DRY_RUN, str(project / "alembic.ini"), base_url], project)


def embedded(repeat: int) -> tuple[float, float]:
    """Median (start incl. import, teardown) of the embedded server, in seconds."""
    starts, stops = [], []
    for _ in range(repeat):
        result = subprocess.run(
            [sys.executable, "-c", EMBEDDED], capture_output=True, text=True, check=True, env=_env()
        )
        start, stop = map(float, result.stdout.split())
        starts.append(start)
        stops.append(stop)
    return statistics.median(starts), statistics.median(stops)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (admin database)")
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
        plain, dry = [], []
        for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
            plain.append(plain_alembic(project, args.url))
            dry.append(dry_run(project, args.url))
    start, stop = embedded(3)
    baseline, measured = statistics.median(plain), statistics.median(dry)
    ratio = measured / baseline
    print(f"revisions: {args.revisions}, repeats: {args.repeat} (median wall time)")
    print(f"{'command':<58} {'median s':>9} {'best s':>8} {'ratio':>6}")
    print(
        f"{'alembic upgrade head; downgrade base; upgrade head':<58} "
        f"{baseline:>9.2f} {min(plain):>8.2f} {1.0:>6.2f}"
    )
    print(
        f"{'dry run (rows=0, lock tracing on)':<58} {measured:>9.2f} {min(dry):>8.2f} {ratio:>6.2f}"
    )
    print(
        f"embedded server: start {start:.2f} s (incl. import) + teardown {stop:.2f} s "
        f"= {start + stop:.2f} s"
    )
    print(f"target ratio <= 1.50: {'met' if ratio <= 1.5 else 'NOT met'}")
    print(f"target embedded <= 3.00 s: {'met' if start + stop <= 3.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
