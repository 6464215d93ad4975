"""Proof harness for the autogenerate rewriter: the original and the rewritten revisions, side by
side, on a real PostgreSQL server.

Given the models before and after a change (SQLAlchemy ``MetaData``) and rows to seed,
:func:`prove` builds two real Alembic projects in temporary directories, each with its own
scratch database:

* ``plain``: env.py without the rewriter, i.e. what ``alembic revision --autogenerate`` writes
  on its own;
* ``rewritten``: env.py with ``process_revision_directives=alembic_safety.rewrite.compose(...)``.

Both get the "before" models as a first revision, upgraded and seeded with the same rows. Then
the real ``alembic revision --autogenerate`` (a subprocess, both projects at once) writes the
change, both are upgraded to head (the rewritten chain one revision at a time), and the harness
asserts that

1. the final schemas are identical: :func:`alembic_safety.dryrun.snapshot.take_snapshot`, i.e.
   the dry run's pg_catalog snapshot, compared object by object with
   :func:`~alembic_safety.dryrun.snapshot.diff_schemas` (see :func:`_normalised` for the one
   normalisation, and why it is legitimate);
2. the data is identical: every row of every table, all columns, ordered by primary key;
3. walking the rewritten chain down one revision at a time, each downgrade restores the
   snapshot taken just before that revision's upgrade; upgrading to head again gives the same
   schema and data once more;
4. ``alembic-safety check --format json`` finds nothing HIGH or CRITICAL in the expand and
   migrate revisions; contract revisions (escalated by design, see docs/autogenerate.md
   "Contract revisions and the linter") only have the drop/rename codes.

Two things a real deployment supplies by hand are supplied here too:

* **Backfills** (``ProofCase.backfills``: (table, column) → SQL expression). The migrate
  revision's ``TODO(alembic-safety): backfill`` note carries a commented keyset loop: it is
  uncommented with the value, as the note tells the user to do. The *original* revision's
  ``add_column(..., nullable=False)`` cannot run on a table with rows at all (the very failure
  the rewrite avoids), so in the plain project it becomes add nullable / fill with the same
  expression / SET NOT NULL in its one transaction: the schema and data the user meant.
* **CHECK constraints and renames**: autogenerate does not compare CHECKs and sees a renamed
  column as a drop and an add, so users write a ``process_revision_directives`` hook of their
  own. Both projects have such a hook (:data:`ENV_PY`: named ``CheckConstraint`` of the models
  missing from the database become ``create_check_constraint``; a column with
  ``info["renamed_from"]`` becomes ``alter_column(new_column_name=...)`` both ways); the
  rewritten project composes it with the rewriter, which is how these reach the rewriter in
  real projects.

Upgrades and downgrades run in-process through ``alembic.command`` (the same env.py and revision
files; about 20 times faster than a subprocess per step, which matters for the property tests);
autogenerate runs the real ``alembic`` executable.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import alembic
import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from conftest import ALEMBIC, _clean_env, run_main
from psycopg import sql

from alembic_safety.dryrun.snapshot import Snapshot, diff_schemas, take_snapshot

__all__ = [
    "CONTRACT_CODES",
    "SERVER",
    "Chain",
    "Project",
    "ProofCase",
    "ProofResult",
    "autogenerate",
    "build_project",
    "fill_backfills",
    "prove",
    "reachable",
    "scratch_database",
    "start_from",
    "two_projects",
]

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

#: The findings a contract revision may have at HIGH or above (docs/autogenerate.md):
#: drop-column, drop-table, rename-column (the type change's swap), rename-table (a table
#: rename's or the shadow table's swap).
CONTRACT_CODES = frozenset({"AS301", "AS302", "AS201", "AS202"})

ENV_PY = '''\
"""env.py of a proof project: models from models.py, rewriter on or off (REWRITE)."""
import runpy
from pathlib import Path

import sqlalchemy as sa
from alembic import context
from alembic.operations import ops
from sqlalchemy import engine_from_config, pool

import alembic_safety.rewrite

REWRITE = {rewrite}
# runpy, not import: in-process runs of several projects must not share a cached ``models``.
target_metadata = runpy.run_path(str(Path(__file__).resolve().parent.parent / "models.py"))[
    "metadata"
]


def renames(container, backwards):
    """A model column with ``info["renamed_from"]``: autogenerate's drop + add → a rename."""
    for modify in container.ops:
        table = target_metadata.tables.get(getattr(modify, "table_name", None))
        if not isinstance(modify, ops.ModifyTableOps) or table is None:
            continue
        marked = [c for c in table.columns if "renamed_from" in c.info]
        pairs = {{c.info["renamed_from"]: c.name for c in marked}}
        if backwards:
            pairs = {{new: old for old, new in pairs.items()}}
        kept = []
        for op_ in modify.ops:
            if isinstance(op_, ops.DropColumnOp) and op_.column_name in pairs:
                continue
            if isinstance(op_, ops.AddColumnOp) and op_.column.name in pairs.values():
                column = op_.column
                old = next(k for k, v in pairs.items() if v == column.name)
                op_ = ops.AlterColumnOp(
                    modify.table_name, old, modify_name=column.name,
                    existing_type=column.type, existing_nullable=column.nullable,
                    existing_server_default=column.server_default,
                )
            kept.append(op_)
        modify.ops = kept


def user_hook(migration_context, revision, directives):
    """What a project's own hook adds to autogenerate: the models' named CHECK constraints that
    the database's existing tables lack (autogenerate does not compare CHECKs), and renames
    (autogenerate sees a drop and an add) of columns marked ``info["renamed_from"]``."""
    inspector = sa.inspect(migration_context.bind)
    existing = set(inspector.get_table_names())
    for script in directives:
        upgrade, downgrade = script.upgrade_ops_list[0], script.downgrade_ops_list[0]
        renames(upgrade, backwards=False)
        renames(downgrade, backwards=True)
        for table in target_metadata.sorted_tables:
            if table.name not in existing:
                continue
            present = {{c["name"] for c in inspector.get_check_constraints(table.name)}}
            for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
                if isinstance(constraint, sa.CheckConstraint) and constraint.name not in present:
                    upgrade.ops.append(ops.CreateCheckConstraintOp.from_constraint(constraint))
                    downgrade.ops.insert(0, ops.DropConstraintOp.from_constraint(constraint))


hook = alembic_safety.rewrite.compose(user_hook) if REWRITE else user_hook
config = context.config
with engine_from_config(
    config.get_section(config.config_ini_section, {{}}), prefix="sqlalchemy.",
    poolclass=pool.NullPool,
).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        process_revision_directives=hook,
    )
    with context.begin_transaction():
        context.run_migrations()
'''

MODELS_PY = '''\
"""The models of this step, pickled by the proof harness (MetaData pickles whole)."""
import pickle
from pathlib import Path

metadata = pickle.loads(Path(__file__).with_name("models.pickle").read_bytes())
'''

INI = """[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = {url}
"""

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def reachable(url: str = SERVER) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def scratch_database(prefix: str = "alembic_safety_proof") -> Iterator[str]:
    """A throwaway database on the test server (its psycopg URL), always dropped."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class ProofCase:
    """One change to prove: models before and after, the rows, what a human would supply."""

    id: str
    before: sa.MetaData
    after: sa.MetaData
    rows: Rows = field(default_factory=dict)
    #: (table, column) → SQL expression filling a NOT NULL column added without a default.
    backfills: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: ``[alembic_safety]`` settings of the projects (e.g. ``backfill_batch_size``).
    settings: Mapping[str, str] = field(default_factory=dict)
    #: Text replacements in the *original* revision: what its author must add by hand for it
    #: to run at all (e.g. ``postgresql_using``, which autogenerate never writes).
    plain_edits: Mapping[str, str] = field(default_factory=dict)
    #: HIGH findings accepted in the *downgrade* of expand/migrate revisions: the reverse of
    #: an op the rewriter rightly leaves alone upwards, e.g. AS105 for narrowing a VARCHAR
    #: back after a catalog-only widening (a known limitation; nothing rewrites downgrades).
    downgrade_codes: frozenset[str] = frozenset()
    #: HIGH findings accepted in contract revisions (escalated by design).
    contract_codes: frozenset[str] = CONTRACT_CODES


@dataclass
class Project:
    """A real Alembic project on disk with its own scratch database."""

    root: Path
    url: str
    rewrite: bool

    @property
    def versions(self) -> Path:
        return self.root / "migrations" / "versions"

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    def config(self) -> Config:
        return Config(str(self.ini))

    def write_models(self, metadata: sa.MetaData) -> None:
        (self.root / "models.pickle").write_bytes(pickle.dumps(metadata))

    def upgrade(self, revision: str = "head") -> None:
        command.upgrade(self.config(), revision)

    def downgrade(self, revision: str) -> None:
        command.downgrade(self.config(), revision)

    def chain(self) -> Chain:
        return Chain.read(self.versions)

    def connect(self, autocommit: bool = True) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=autocommit)


def build_project(
    root: Path, url: str, *, rewrite: bool, settings: Mapping[str, str] | None = None
) -> Project:
    """models.py + env.py + stock script.py.mako + alembic.ini (with ``[alembic_safety]``)."""
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, migrations / "script.py.mako")
    (migrations / "env.py").write_text(ENV_PY.format(rewrite=rewrite))
    (root / "models.py").write_text(MODELS_PY)
    ini = INI.format(url=url.replace("postgresql://", "postgresql+psycopg://", 1))
    if settings:
        ini += "\n[alembic_safety]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
    (root / "alembic.ini").write_text(ini)
    return Project(root, url, rewrite)


@dataclass(frozen=True)
class Revision:
    path: Path
    revision: str
    down_revision: str | None
    phase: str | None

    @property
    def text(self) -> str:
        return self.path.read_text()


@dataclass(frozen=True)
class Chain:
    """The revision files of a project in upgrade order (a single branch)."""

    revisions: tuple[Revision, ...]

    @classmethod
    def read(cls, versions: Path) -> Chain:
        found: dict[str | None, Revision] = {}
        for path in versions.glob("*.py"):
            text = path.read_text()
            rev = re.search(r"^revision: str = '(\w+)'", text, re.MULTILINE)
            down = re.search(r"^down_revision: .* = '?(\w+)'?$", text, re.MULTILINE)
            phase = re.search(r"^Phase: (\w+)$", text, re.MULTILINE)
            assert rev, f"not a revision file: {path}"
            assert down, f"no down_revision in {path}"
            parent = None if down.group(1) == "None" else down.group(1)
            assert parent not in found, f"branch at {parent}: {path.name}"
            found[parent] = Revision(path, rev.group(1), parent, phase and phase.group(1))
        ordered: list[Revision] = []
        parent: str | None = None
        while parent in found:
            ordered.append(found[parent])
            parent = ordered[-1].revision
        assert len(ordered) == len(found), "revisions not in one chain"
        return cls(tuple(ordered))

    def after(self, revision: str) -> tuple[Revision, ...]:
        ids = [r.revision for r in self.revisions]
        return self.revisions[ids.index(revision) + 1 :]


def autogenerate(projects: Sequence[Project], message: str) -> None:
    """The real ``alembic revision --autogenerate`` in every project, concurrently."""
    running = [
        (
            project,
            subprocess.Popen(
                [str(ALEMBIC), "revision", "--autogenerate", "-m", message],
                cwd=project.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_clean_env(),
            ),
        )
        for project in projects
    ]
    for project, process in running:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"autogenerate failed in {project.root}:\n{out}"


@contextlib.contextmanager
def two_projects(
    root: Path, settings: Mapping[str, str] | None = None
) -> Iterator[tuple[Project, Project]]:
    """(plain, rewritten) projects under ``root``, each with a scratch database."""
    with scratch_database() as plain_url, scratch_database() as rewritten_url:
        plain = build_project(root / "plain", plain_url, rewrite=False, settings=settings)
        rewritten = build_project(
            root / "rewritten", rewritten_url, rewrite=True, settings=settings
        )
        yield plain, rewritten


def start_from(projects: Sequence[Project], before: sa.MetaData, rows: Rows) -> str:
    """The "before" models as a first revision, upgraded, then the rows; the revision id.

    The first revision only creates tables (nothing to rewrite): it is generated once, by
    ``alembic.command.revision`` in this process (the same autogenerate, without a second of
    interpreter start-up), and copied, so both projects start from the very same file.
    """
    first, *others = projects
    for project in projects:
        project.write_models(before)
    command.revision(first.config(), message="before", autogenerate=True)
    (initial,) = first.chain().revisions
    for project in others:
        shutil.copy(initial.path, project.versions / initial.path.name)
    for project in projects:
        project.upgrade("head")
        seed(project.url, before, rows)
    return initial.revision


def seed(url: str, metadata: sa.MetaData, rows: Rows) -> None:
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool
    )
    try:
        with engine.begin() as connection:
            for table in metadata.sorted_tables:
                if rows.get(table.name):  # keys of columns the table lacks are left out
                    values = [
                        {k: v for k, v in r.items() if k in table.c} for r in rows[table.name]
                    ]
                    connection.execute(table.insert(), values)
            # Explicit ids leave the sequences behind; move them past the seeded rows.
            for table in metadata.sorted_tables:
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                        column.autoincrement == "auto"
                        and isinstance(column.type, sa.Integer)
                        and len(table.primary_key.columns) == 1
                    ):
                        connection.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                f"'{column.name}'), coalesce(max({column.name}), 0) + 1, false) "
                                f"FROM {table.name}"
                            )
                        )
    finally:
        engine.dispose()


# -- what the human supplies ---------------------------------------------------------------------

_TODO = re.compile(r"# TODO\(alembic-safety\): backfill (\S+)\.(\S+?); ")


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def fill_backfills(path: Path, backfills: Mapping[tuple[str, str], str]) -> int:
    """Uncomment each backfill TODO's keyset loop with its value; how many were filled.

    Without a loop (no integer key), the note is followed by a plain ``UPDATE`` instead.
    """
    lines = path.read_text().splitlines(keepends=True)
    filled = 0
    index = 0
    while index < len(lines):
        match = _TODO.search(lines[index])
        if match is None:
            index += 1
            continue
        table, column = _unquote(match.group(1)), _unquote(match.group(2))
        assert (table, column) in backfills, f"no backfill given for {table}.{column}"
        value = backfills[(table, column)]
        indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
        end = next(
            (i for i in range(index, len(lines)) if lines[i].strip() == "#         last = row[0]"),
            None,
        )
        start = next(
            (i for i in range(index, end or index) if "# with op.get_context()" in lines[i]), None
        )
        if start is None or end is None:
            target = match.group(2)
            update = f"UPDATE {match.group(1)} SET {target} = {value} WHERE {target} IS NULL"
            lines.insert(index + 1, f"{indent}op.execute({update!r})\n")
            index += 2
        else:
            # <value> sits inside a single-quoted Python literal (the repr of the UPDATE).
            literal = value.replace("\\", "\\\\").replace("'", "\\'")
            for i in range(start, end + 1):
                lines[i] = lines[i].replace("# ", "", 1).replace("<value>", literal)
            index = end + 1
        filled += 1
    path.write_text("".join(lines))
    return filled


_ADD_NOT_NULL = re.compile(
    r"^(?P<indent>\s*)op\.add_column\('(?P<table>\w+)', sa\.Column\('(?P<column>\w+)', "
    r"(?P<rest>.*), nullable=False\)\)$",
    re.MULTILINE,
)


def fill_plain(path: Path, backfills: Mapping[tuple[str, str], str]) -> int:
    """The original's NOT NULL ``add_column`` as add nullable / fill / SET NOT NULL (see the
    module docstring); how many were replaced."""
    replaced = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal replaced
        key = (match["table"], match["column"])
        if key not in backfills:
            return match.group(0)
        replaced += 1
        indent, table, column = match["indent"], match["table"], match["column"]
        update = f"UPDATE {table} SET {column} = {backfills[key]}"
        return (
            f"{indent}op.add_column('{table}', sa.Column('{column}', {match['rest']}, "
            f"nullable=True))\n"
            f"{indent}op.execute({update!r})\n"
            f"{indent}op.alter_column('{table}', '{column}', nullable=False)"
        )

    text = _ADD_NOT_NULL.sub(replace, path.read_text())
    path.write_text(text)
    return replaced


def edit(path: Path, replacements: Mapping[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} not in {path.name}:\n{text}"
        text = text.replace(old, new)
    path.write_text(text)


# -- what is compared ----------------------------------------------------------------------------

_VERSION_TABLE = [("public", "alembic_version")]


def snapshot(project: Project) -> Snapshot:
    with project.connect() as connection:
        return _normalised(take_snapshot(connection, exclude=_VERSION_TABLE))


def _normalised(snap: Snapshot) -> Snapshot:
    """The snapshot as compared: as the dry run takes it, nothing removed.

    No normalisation is needed between the original and the rewritten head: the names the
    rewriter introduces (``ck_<table>_<column>_not_null``, ``<column>_new`` / ``_old``, the
    sync trigger and its function) are all dropped again by the chain, and a leftover one is a
    difference like any other. Column order is not part of a snapshot (objects are keyed by
    name): a shadow column swapped in becomes the table's last column where ``ALTER TYPE``
    keeps its place, which no query naming its columns can tell. The one normalisation, for
    downgrades only, is :func:`_validated_since`.
    """
    return snap


def table_data(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every row of every user table, as JSON objects (keys sorted), ordered by primary key."""
    result: dict[str, list[dict[str, Any]]] = {}
    with project.connect() as connection:
        snap = take_snapshot(connection, exclude=_VERSION_TABLE)
        for name, table in sorted(snap.tables.items()):
            order = sql.SQL(", ").join(map(sql.Identifier, table.primary_key)) or sql.SQL("1")
            query = sql.SQL(
                "SELECT coalesce(json_agg(row_to_json(t) ORDER BY {}, t::text), '[]') FROM {} t"
            ).format(order, table.ident)
            row = connection.execute(query).fetchone()
            assert row is not None
            result[name] = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return result


Finding = tuple[str, str, str]


def linter_findings(project: Project) -> dict[str, list[Finding]]:
    """``alembic-safety check --format json``: revision → [(code, risk, direction)] of the
    active findings (``check_downgrade`` is on by default: downgrades are checked too)."""
    result = run_main("check", "-c", project.ini, "--format", "json", cwd=project.root)
    assert result.code in (0, 1), result.out + result.err
    return {
        entry["revision"]: [
            (f["code"], f["risk"], f["direction"]) for f in entry["findings"] if not f["suppressed"]
        ]
        for entry in result.json()["revisions"]
    }


# -- the proof -----------------------------------------------------------------------------------


@dataclass
class ProofResult:
    """What the proof saw, for tests that assert more (file contents, phases, figures)."""

    initial: str
    plain: tuple[Revision, ...]
    rewritten: tuple[Revision, ...]
    findings: dict[str, list[Finding]]
    head_snapshot: Snapshot
    head_data: dict[str, list[dict[str, Any]]]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def phases(self) -> list[str | None]:
        return [r.phase for r in self.rewritten]

    def text(self, phase: str) -> str:
        return "\n".join(r.text for r in self.rewritten if r.phase == phase)


def _same_schema(expected: Snapshot, actual: Snapshot, when: str) -> None:
    problems = diff_schemas(expected, actual, when=when)
    assert not problems, "\n".join(problems)


_CONSTRAINTS = ("foreign key", "check constraint")


def _validated_since(expected: Snapshot, actual: Snapshot) -> Snapshot:
    """``expected`` with the NOT VALID constraints that ``actual`` has validated, validated.

    The one legitimate difference after a downgrade: a migrate/contract revision's ``VALIDATE
    CONSTRAINT`` has no inverse (PostgreSQL cannot un-validate; the rewriter's
    ``ReversibleExecuteSQLOp`` reverses it to nothing by design). The constraint is the same
    and holds for every row either way. Only that exact change is forgiven: same kind, same
    name, same definition, NOT VALID before and validated now.
    """
    objects = dict(expected.objects)
    for key, description in expected.objects.items():
        now = actual.objects.get(key)
        validated = now is not None and "NOT VALID" not in now
        if key[0] in _CONSTRAINTS and validated and description.replace(" NOT VALID", "") == now:
            objects[key] = str(now)
    return Snapshot(objects, expected.tables, expected.invalid_indexes)


def prove(case: ProofCase, root: Path) -> ProofResult:
    """Everything in the module docstring, for one case; AssertionError on any difference."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    with two_projects(root, case.settings) as (plain, rewritten):
        initial = start_from([plain, rewritten], case.before, case.rows)
        lap("setup")
        for project in (plain, rewritten):
            project.write_models(case.after)
        autogenerate([plain, rewritten], "change")
        lap("autogenerate")
        plain_new = plain.chain().after(initial)
        new = rewritten.chain().after(initial)
        assert len(plain_new) == 1, [r.path.name for r in plain_new]
        for revision in plain_new:
            fill_plain(revision.path, case.backfills)
            edit(revision.path, case.plain_edits)
        for revision in new:
            fill_backfills(revision.path, case.backfills)

        plain.upgrade("head")
        plain_schema, plain_data = snapshot(plain), table_data(plain)
        lap("plain upgrade")

        before_each: list[Snapshot] = []
        for revision in new:  # one at a time: the snapshot before each, for the downgrades
            before_each.append(snapshot(rewritten))
            rewritten.upgrade(revision.revision)
        head_schema, head_data = snapshot(rewritten), table_data(rewritten)
        lap("rewritten upgrade")
        _same_schema(plain_schema, head_schema, "in the rewritten database (vs the original)")
        assert head_data == plain_data, _data_difference(plain_data, head_data)

        for revision, expected in zip(reversed(new), reversed(before_each), strict=True):
            rewritten.downgrade(revision.down_revision or "base")
            actual = snapshot(rewritten)
            expected = _validated_since(expected, actual)
            _same_schema(expected, actual, f"after downgrading {revision.path.name}")
        rewritten.upgrade("head")
        _same_schema(head_schema, snapshot(rewritten), "after downgrade and upgrade again")
        assert table_data(rewritten) == plain_data, "data differs after downgrade + upgrade"
        lap("downgrade walk")

        findings = linter_findings(rewritten)
        lap("linter")
        for revision in new:
            for direction in ("upgrade", "downgrade"):
                high = {
                    code
                    for code, risk, where in findings[revision.revision]
                    if risk in ("HIGH", "CRITICAL") and where == direction
                }
                allowed = (
                    case.contract_codes
                    if revision.phase == "contract"
                    else case.downgrade_codes
                    if direction == "downgrade"
                    else frozenset()
                )
                assert high <= allowed, (
                    f"{revision.path.name} ({revision.phase}), {direction}: HIGH/CRITICAL "
                    f"{sorted(high - allowed)}\n{revision.text}"
                )
        return ProofResult(
            initial=initial,
            plain=plain_new,
            rewritten=new,
            findings=findings,
            head_snapshot=head_schema,
            head_data=head_data,
            seconds=seconds,
        )


def _data_difference(
    expected: Mapping[str, list[dict[str, Any]]], actual: Mapping[str, list[dict[str, Any]]]
) -> str:
    for table in sorted(set(expected) | set(actual)):
        old, new = expected.get(table), actual.get(table)
        if old != new:
            pairs = [(a, b) for a, b in zip(old or [], new or [], strict=False) if a != b]
            sample = pairs[0] if pairs else (len(old or []), len(new or []))
            return f"table {table}: first difference (original, rewritten) {sample}"
    return "no difference"
