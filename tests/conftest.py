"""Shared helpers: throw-away Alembic projects on disk and the real console scripts.

Every test that needs revisions writes real files under ``tmp_path``: an ``alembic.ini`` (or a
``pyproject.toml``), ``migrations/env.py``, ``script.py.mako`` and ``versions/``. Subprocess tests
run the ``alembic`` and ``alembic-safety`` executables installed next to the interpreter.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
ALEMBIC = BIN / "alembic"
ALEMBIC_SAFETY = BIN / "alembic-safety"

ENV_PY = '''\
"""env.py of a test project: the linter must never run it (it would connect)."""
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = None


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/does_not_matter"


def _block(body: str) -> str:
    """Dedent a function body written in a test and indent it into a ``def``."""
    text = textwrap.dedent(body).strip("\n")
    return textwrap.indent(text or "pass", "    ", lambda _line: True)


def revision_source(
    rev: str,
    down_rev: str | tuple[str, ...] | None,
    upgrade_body: str = "pass",
    downgrade_body: str = "pass",
    extra_imports: str = "",
    *,
    module_body: str = "",
    message: str | None = None,
) -> str:
    """The text of a revision file in Alembic's standard layout.

    ``module_body`` is module-level code placed between the identifiers and ``upgrade()``
    (helper functions, aliases, custom types).
    """
    down_text = ", ".join(down_rev) if isinstance(down_rev, tuple) else down_rev
    parts = [
        f'"""{message or f"revision {rev}"}\n\nRevision ID: {rev}\nRevises: {down_text or ""}\n'
        'Create Date: 2024-01-01 00:00:00\n\n"""',
        "from alembic import op\nimport sqlalchemy as sa",
    ]
    if extra_imports.strip():
        parts.append(textwrap.dedent(extra_imports).strip("\n"))
    parts.append(
        f"revision = {rev!r}\ndown_revision = {down_rev!r}\nbranch_labels = None\ndepends_on = None"
    )
    if module_body.strip():
        parts.append(textwrap.dedent(module_body).strip("\n"))
    parts.append(f"def upgrade() -> None:\n{_block(upgrade_body)}")
    parts.append(f"def downgrade() -> None:\n{_block(downgrade_body)}")
    return "\n\n\n".join(parts) + "\n"


def write_revision(
    versions: Path,
    rev: str,
    down_rev: str | tuple[str, ...] | None,
    upgrade_body: str = "pass",
    downgrade_body: str = "pass",
    extra_imports: str = "",
    *,
    module_body: str = "",
    filename: str | None = None,
) -> Path:
    """Write one revision file into ``versions`` and return its path."""
    versions.mkdir(parents=True, exist_ok=True)
    path = versions / (filename or f"{rev}_revision.py")
    path.write_text(
        revision_source(
            rev, down_rev, upgrade_body, downgrade_body, extra_imports, module_body=module_body
        ),
        encoding="utf-8",
    )
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line of ``path`` containing ``needle``."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} (occurrence {occurrence}) not in {path}")


@dataclass
class Project:
    """A minimal Alembic project on disk."""

    root: Path

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def versions(self) -> Path:
        return self.migrations / "versions"

    def revision(
        self,
        rev: str,
        down_rev: str | tuple[str, ...] | None,
        upgrade_body: str = "pass",
        downgrade_body: str = "pass",
        extra_imports: str = "",
        *,
        module_body: str = "",
        filename: str | None = None,
    ) -> Path:
        return write_revision(
            self.versions,
            rev,
            down_rev,
            upgrade_body,
            downgrade_body,
            extra_imports,
            module_body=module_body,
            filename=filename,
        )


def write_scaffold(root: Path) -> None:
    """``migrations/env.py``, ``script.py.mako`` and an empty ``versions/`` under ``root``."""
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True, exist_ok=True)
    (migrations / "env.py").write_text(ENV_PY, encoding="utf-8")
    (migrations / "script.py.mako").write_text(SCRIPT_MAKO, encoding="utf-8")


def ini_text(
    safety: Mapping[str, str] | None = None,
    *,
    url: str = DEFAULT_URL,
    script_location: str | None = "%(here)s/migrations",
    extra_alembic: str = "",
) -> str:
    lines = ["[alembic]"]
    if script_location is not None:
        lines.append(f"script_location = {script_location}")
    lines.append("path_separator = os")
    lines.append(f"sqlalchemy.url = {url}")
    if extra_alembic:
        lines.append(extra_alembic.strip())
    if safety is not None:
        lines.append("\n[alembic_safety]")
        lines.extend(f"{key} = {value}" for key, value in safety.items())
    return "\n".join(lines) + "\n"


MakeProject = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Factory: ``make_project(safety={...}, url=..., subdir="proj")`` writes a project."""

    def make(
        safety: Mapping[str, str] | None = None,
        *,
        url: str = DEFAULT_URL,
        subdir: str = "project",
        with_ini: bool = True,
    ) -> Project:
        root = tmp_path / subdir
        root.mkdir(parents=True, exist_ok=True)
        write_scaffold(root)
        if with_ini:
            (root / "alembic.ini").write_text(ini_text(safety, url=url), encoding="utf-8")
        return Project(root)

    return make


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    """A project with alembic.ini and no ``[alembic_safety]`` section."""
    return make_project()


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ALEMBIC_CONFIG", "NO_COLOR")}
    env.pop("ALEMBIC_SAFETY_DEBUG", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_cli(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``alembic-safety`` console script."""
    return subprocess.run(
        [str(ALEMBIC_SAFETY), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(env),
        check=False,
    )


def run_alembic(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``alembic`` console script (with the safety-check plugin)."""
    return subprocess.run(
        [str(ALEMBIC), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(env),
        check=False,
    )


@dataclass
class CliResult:
    """Exit code and output of one in-process ``alembic-safety`` run."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_main(*args: str | Path, cwd: Path) -> CliResult:
    """Run ``alembic_safety.cli.main`` in this process (fast; same code as the console script)."""
    from alembic_safety.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_config = os.environ.pop("ALEMBIC_CONFIG", None)
    try:
        with working_directory(cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse errors, --version
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if saved_config is not None:
            os.environ["ALEMBIC_CONFIG"] = saved_config
    return CliResult(code, out.getvalue(), err.getvalue())


def findings_of(document: Mapping[str, Any], revision: str) -> list[dict[str, Any]]:
    """The findings of ``revision`` in a JSON report."""
    for entry in document["revisions"]:
        if entry["revision"] == revision:
            return list(entry["findings"])
    raise AssertionError(f"revision {revision} not in report")


def codes_of(document: Mapping[str, Any], revision: str) -> list[str]:
    return [f["code"] for f in findings_of(document, revision)]


@pytest.fixture(autouse=True)
def _forget_project_modules(request: pytest.FixtureRequest) -> Iterator[None]:
    """Drop modules imported from this test's tmp_path (``helpers``, ``myapp`` ...) afterwards.

    In-process runs import project helper modules by plain names; without this a later test
    writing a different ``helpers.py`` would get the first test's module from ``sys.modules``.
    """
    if "tmp_path" not in request.fixturenames:
        yield
        return
    tmp_path: Path = request.getfixturevalue("tmp_path")
    before = set(sys.modules)
    yield
    root = str(tmp_path.resolve())
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if isinstance(file, str) and str(Path(file).resolve()).startswith(root):
            del sys.modules[name]
