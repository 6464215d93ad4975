"""Benchmark: ``alembic revision --autogenerate`` with the rewriter against without it.

Why: the rewriter runs inside every ``alembic revision --autogenerate`` of a project that
enables it, so it must not make the command noticeably slower. The baseline is the same command
without the hook, on the same project, database and model change: the ratio is the rewriter's
overhead (its rewrites, the follow-up scripts, the risk header's assessment and row estimates,
and writing the extra files), independent of the machine. Target (issue #5): overhead <= 5 %.

The project has ``--tables`` tables (varied columns, indexes, foreign keys) in a scratch
database of the PostgreSQL service, created from the "before" models; the "after" models change
most tables the ways real changes do: new NOT NULL columns with and without a server default,
new indexes, new foreign keys, rewriting type changes, widened strings and dropped columns.
Both variants run interleaved (so load on the machine hits both alike), ``--repeat`` times each,
in two ways: the ``alembic`` executable in a subprocess (what users run; interpreter start-up
and imports included) and ``alembic.command.revision`` in this process (the autogenerate work
alone). Generated files are deleted after each run, so every run sees the same state.

Usage::

    python bench/bench_autogenerate.py [--tables 50] [--repeat 7] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

BIN = Path(sys.executable).parent
DEFAULT_URL = os.environ.get(
    "ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGET = 1.05

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

import bench_models

config = context.config
hook = None
variant = context.get_x_argument(as_dictionary=True).get("rewrite")
if variant in ("on", "headers"):
    # Imported only when enabled, as in a project without it: the import is part of its cost.
    import functools

    import alembic_safety.rewrite

    hook = alembic_safety.rewrite.process_revision_directives
    if variant == "headers":  # alembic-safety on, every rewrite disabled (rewrites = "")
        settings = alembic_safety.rewrite.RewriteSettings(rewrites=frozenset())
        hook = functools.partial(hook, settings=settings)

engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=bench_models.metadata,
        process_revision_directives=hook,
    )
    with context.begin_transaction():
        context.run_migrations()
"""

INI = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}
"""


def table_source(index: int, after: bool) -> list[str]:
    """``sa.Table(...)`` for table ``index`` (before or after the change), as source lines.

    Every table has a key, a name, timestamps and a few typed columns; most refer to an earlier
    table and have an index. The change depends on ``index % 6`` so that a 50-table model gets
    every kind of change several times.
    """
    name = f"t{index:03d}"
    kind = index % 6
    parent = f"t{index - 1:03d}" if index else None
    columns = [
        "sa.Column('id', sa.Integer, primary_key=True)",
        f"sa.Column('name', sa.String({80 if after and kind == 5 else 40}), nullable=False)",
        "sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now())",
        "sa.Column('amount', sa.Numeric(12, 2))",
        "sa.Column('active', sa.Boolean, nullable=False, server_default=sa.true())",
        f"sa.Column('quantity', {'sa.BigInteger' if after and kind == 3 else 'sa.Integer'})",
    ]
    if not (after and kind == 4):
        columns.append("sa.Column('legacy_code', sa.String(20))")
    if parent:
        columns.append(f"sa.Column('{parent}_id', sa.ForeignKey('{parent}.id'), index=True)")
    extras = []
    if after and kind == 0:  # NOT NULL without a server default: expand / migrate
        columns.append("sa.Column('status', sa.String(20), nullable=False)")
    if after and kind in (0, 5):  # NOT NULL with a constant default: catalog only
        columns.append("sa.Column('currency', sa.String(3), nullable=False, server_default='EUR')")
    if after and kind == 1:  # an index on an existing column
        extras.append(f"sa.Index('ix_{name}_created_at', 'created_at')")
    if after and kind == 2 and index >= 2:  # a new foreign key to an older table
        other = f"t{index - 2:03d}"
        columns.append(f"sa.Column('{other}_ref', sa.Integer)")
        extras.append(
            f"sa.ForeignKeyConstraint(['{other}_ref'], ['{other}.id'], "
            f"name='fk_{name}_{other}_ref')"
        )
    extras.append(f"sa.Index('ix_{name}_name', 'name')")
    body = ",\n    ".join([repr(name), "metadata", *columns, *extras])
    return [f"sa.Table(\n    {body},\n)"]


def models_source(tables: int, after: bool) -> str:
    lines = ["import sqlalchemy as sa", "", "metadata = sa.MetaData()", ""]
    for index in range(tables):
        lines += table_source(index, after)
    return "\n".join(lines) + "\n"


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    """A database on the server, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"bench_autogen_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        url = make_url(base_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def make_project(root: Path, url: str, tables: int) -> None:
    """The project at "before" in the database, with the "after" models in bench_models.py."""
    (root / "migrations" / "versions").mkdir(parents=True)
    template = Path(__import__("alembic").__file__).parent / "templates" / "generic"
    (root / "migrations" / "script.py.mako").write_text((template / "script.py.mako").read_text())
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (root / "alembic.ini").write_text(INI.format(url=url.replace("%", "%%")))
    namespace: dict[str, object] = {}
    exec(compile(models_source(tables, after=False), "before", "exec"), namespace)
    engine = create_engine(url)
    try:
        namespace["metadata"].create_all(engine)  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    (root / "bench_models.py").write_text(models_source(tables, after=True))


def _clean(versions: Path) -> int:
    """Delete the generated revisions; how many there were."""
    files = list(versions.glob("*.py"))
    for path in files:
        path.unlink()
    return len(files)


@dataclass(frozen=True)
class Run:
    """One timed run: wall seconds, CPU seconds of the process, revision files written."""

    wall: float
    cpu: float
    files: int


def _child_env(root: Path) -> dict[str, str]:
    """Bytecode cached (under the project, not in the checkout), as after ``pip install``.

    Without it, a ``PYTHONDONTWRITEBYTECODE`` environment would make every run compile every
    module of alembic-safety again, and charge that to the rewriter.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root.parent / "pycache")
    return env


#: The variants timed: stock Alembic, alembic-safety with every rewrite disabled (risk headers
#: and lock_timeout only), and with the rewrites.
VARIANTS = ("off", "headers", "on")


def subprocess_run(root: Path, variant: str) -> Run:
    """The ``alembic`` executable; CPU time from the child's resource usage."""
    command = [str(BIN / "alembic"), "-x", f"rewrite={variant}"]
    command += ["revision", "--autogenerate", "-m", "bench change"]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(root),
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read() if process.stderr is not None else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, _clean(root / "migrations" / "versions"))


def in_process_run(root: Path, variant: str) -> Run:
    """``alembic.command.revision`` in this process (imports done, the autogenerate work)."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(root / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=[f"rewrite={variant}"])
    previous = Path.cwd()
    os.chdir(root)
    sys.path.insert(0, str(root))
    gc.collect()  # garbage of earlier runs is collected before the clock starts, for both variants
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            start, start_cpu = time.perf_counter(), time.process_time()
            command.revision(config, message="bench change", autogenerate=True)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    finally:
        sys.path.remove(str(root))
        os.chdir(previous)
    return Run(wall, cpu, _clean(root / "migrations" / "versions"))


Runner = Callable[[Path, str], Run]


def measure(runner: Runner, root: Path, repeat: int) -> dict[str, list[Run]]:
    """Runs per variant, interleaved; checks the file counts (only the rewrites chain files)."""
    runs: dict[str, list[Run]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeat):
        for variant in VARIANTS:
            run = runner(root, variant)
            if (run.files > 1) != (variant == "on"):
                raise SystemExit(f"rewrite={variant} wrote {run.files} file(s): hook not wired")
            runs[variant].append(run)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (admin database)")
    parser.add_argument(
        "--mode", choices=("both", "subprocess", "in-process"), default="both", help="what to time"
    )
    args = parser.parse_args(argv)
    if args.tables < 1 or args.repeat < 1:
        parser.error("--tables and --repeat must be positive")
    with tempfile.TemporaryDirectory(prefix="alembic_safety_bench_") as tmp:
        root = Path(tmp) / "project"
        with scratch_database(args.url) as url:
            make_project(root, url, args.tables)
            runners: list[tuple[str, Runner]] = []
            if args.mode in ("both", "in-process"):
                in_process_run(root, "on")  # warm-up: imports, first connection
                runners.append(("alembic.command.revision (in process)", in_process_run))
            if args.mode in ("both", "subprocess"):
                for variant in VARIANTS:  # warm-up: the bytecode cache
                    subprocess_run(root, variant)
                runners.append(("alembic revision --autogenerate (subprocess)", subprocess_run))
            results = [(name, measure(runner, root, args.repeat)) for name, runner in runners]
    print(f"tables: {args.tables}, repeats: {args.repeat} (medians, interleaved runs)")
    print("variants: off = stock Alembic; headers = alembic-safety with rewrites disabled")
    print("          (risk headers, lock_timeout); on = with the rewrites")
    print(
        f"{'command':<46} {'variant':>8} {'wall s':>7} {'best s':>7} {'CPU s':>7} "
        f"{'vs off':>7} {'vs headers':>10}"
    )
    met = True
    for name, runs in results:
        cpu = {variant: statistics.median(r.cpu for r in runs[variant]) for variant in VARIANTS}
        for variant in VARIANTS:
            wall = statistics.median(r.wall for r in runs[variant])
            best = min(r.wall for r in runs[variant])
            print(
                f"{name:<46} {variant:>8} {wall:>7.3f} {best:>7.3f} {cpu[variant]:>7.3f} "
                f"{cpu[variant] / cpu['off']:>7.2f} {cpu[variant] / cpu['headers']:>10.2f}"
            )
        met = met and cpu["on"] / cpu["headers"] <= TARGET
    # CPU time: what the rewrites cost, without the noise of other processes on the machine.
    print(
        f"target: rewrites enabled vs disabled <= {TARGET - 1:.0%} overhead (CPU time): "
        f"{'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
