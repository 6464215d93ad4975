"""Autogenerate safety rewrites: ops in, rendered code out; and end to end on real files.

The end-to-end test runs the real ``alembic revision --autogenerate`` against a scratch
PostgreSQL database holding rows, then the real ``alembic-safety check`` on what it wrote, then
upgrade / downgrade / upgrade, and reads the final schema from the catalog.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alembic
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from conftest import run_alembic, run_cli
from psycopg import sql

from alembic_safety.rewrite import (
    AutocommitBlockOp,
    NoteOp,
    ReversibleExecuteSQLOp,
    RevisionMessage,
    compose,
    process_revision_directives,
)

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


# -- unit: ops in, code out --------------------------------------------------------------------


def _pg_context() -> MigrationContext:
    return MigrationContext.configure(dialect_name="postgresql")


def _script(
    upgrade: list[ops.MigrateOperation],
    downgrade: list[ops.MigrateOperation] | None = None,
    message: str = "change things",
) -> ops.MigrationScript:
    return ops.MigrationScript(
        rev_id="aaaa00000001",
        message=message,
        upgrade_ops=ops.UpgradeOps(upgrade),
        downgrade_ops=ops.DowngradeOps(downgrade or []),
    )


def _code(container: ops.OpContainer) -> str:
    return render_python_code(container)  # type: ignore[arg-type]


def test_index_on_existing_table_is_created_concurrently_in_an_autocommit_block() -> None:
    script = _script(
        [ops.ModifyTableOps("orders", [ops.CreateIndexOp("ix_orders_total", "orders", ["total"])])],
        [ops.ModifyTableOps("orders", [ops.DropIndexOp("ix_orders_total", "orders")])],
    )
    directives = [script]
    process_revision_directives(_pg_context(), ("head",), directives)
    assert len(directives) == 1
    up, down = _code(script.upgrade_ops), _code(script.downgrade_ops)
    # An INVALID leftover of a failed concurrent build is dropped first (tests in
    # test_rewrite_constraints.py), then the index is created IF NOT EXISTS: a rerun finishes.
    assert "with op.get_context().autocommit_block():\n        # a failed CREATE INDEX" in up
    assert (
        "        op.create_index('ix_orders_total', 'orders', ['total'], unique=False, "
        "postgresql_concurrently=True, if_not_exists=True)"
    ) in up
    assert (
        "with op.get_context().autocommit_block():\n"
        "        op.drop_index('ix_orders_total', table_name='orders', "
        "postgresql_concurrently=True, if_exists=True)"
    ) in down


def test_index_on_a_table_created_in_the_same_revision_is_left_alone() -> None:
    table = ops.CreateTableOp("tags", [sa.Column("id", sa.Integer, primary_key=True)])
    script = _script(
        [table, ops.CreateIndexOp("ix_tags_id", "tags", ["id"])],
        [ops.DropIndexOp("ix_tags_id", "tags"), ops.DropTableOp("tags")],
    )
    process_revision_directives(_pg_context(), ("head",), [script])
    assert "autocommit_block" not in _code(script.upgrade_ops)
    assert "autocommit_block" not in _code(script.downgrade_ops)


def test_blocks_are_gathered_drops_first_creates_last() -> None:
    script = _script(
        [
            ops.CreateIndexOp("ix_a", "t", ["a"]),
            ops.AddColumnOp("t", sa.Column("b", sa.Integer)),
            ops.CreateIndexOp("ix_b", "t", ["b"]),
            ops.DropIndexOp("ix_old", "t"),
        ]
    )
    process_revision_directives(_pg_context(), ("head",), [script])
    kinds = [type(o).__name__ for o in script.upgrade_ops.ops]
    # SET lock_timeout first, then the blocks around the rest.
    assert kinds == [
        "ReversibleExecuteSQLOp",
        "AutocommitBlockOp",
        "AddColumnOp",
        "AutocommitBlockOp",
    ]
    first, last = script.upgrade_ops.ops[1], script.upgrade_ops.ops[-1]
    assert isinstance(first, AutocommitBlockOp)
    assert isinstance(last, AutocommitBlockOp)
    assert [type(o).__name__ for o in first.ops] == ["DropIndexOp"]
    created = [o.index_name for o in last.ops if isinstance(o, ops.CreateIndexOp)]
    assert created == ["ix_a", "ix_b"]


def test_foreign_key_not_valid_and_validate_in_a_chained_second_script() -> None:
    fk = ops.CreateForeignKeyOp("fk_orders_user", "orders", "users", ["user_id"], ["id"])
    script = _script([fk], [ops.DropConstraintOp("fk_orders_user", "orders", type_="foreignkey")])
    directives = [script]
    process_revision_directives(_pg_context(), ("head",), directives)
    assert len(directives) == 2
    first, second = directives
    assert "postgresql_not_valid=True" in _code(first.upgrade_ops)
    assert "VALIDATE" not in _code(first.upgrade_ops)
    assert second.head == first.rev_id
    assert second.rev_id != first.rev_id
    assert "ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user" in _code(second.upgrade_ops)
    # the downgrade puts the constraint back to NOT VALID, as the first revision left it
    assert "ADD CONSTRAINT %I %s NOT VALID" in _code(second.downgrade_ops)
    assert "Phase: migrate" in str(second.message)
    assert "Rollback: included" in str(second.message)


def test_not_null_column_is_added_nullable_then_enforced_later() -> None:
    column = sa.Column("status", sa.String(20), nullable=False)
    script = _script(
        [ops.ModifyTableOps("orders", [ops.AddColumnOp("orders", column)])],
        [ops.ModifyTableOps("orders", [ops.DropColumnOp("orders", "status")])],
    )
    directives = [script]
    process_revision_directives(_pg_context(), ("head",), directives)
    assert column.nullable is False  # the model's Column is not touched
    first, second, third = directives  # expand, migrate (the backfill), contract (NOT NULL)
    assert "sa.Column('status', sa.String(length=20), nullable=True)" in _code(first.upgrade_ops)
    migrate = _code(second.upgrade_ops)
    assert "# TODO(alembic-safety): backfill orders.status" in migrate
    # the user's backfill goes here: it gets the lock_timeout too
    assert migrate.index("SET lock_timeout") < migrate.index("TODO(alembic-safety)")
    assert "Phase: migrate" in str(second.message)
    up = _code(third.upgrade_ops)
    assert up.index("SELECT count(*) FROM orders WHERE status IS NULL") < up.index(
        "create_check_constraint"
    )  # the validation block first: nothing changes while the backfill is missing
    ordered = [
        "op.create_check_constraint('ck_orders_status_not_null', 'orders', "
        "'status IS NOT NULL', postgresql_not_valid=True)",
        "op.execute('ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null')",
        "op.alter_column('orders', 'status',",
        "op.drop_constraint('ck_orders_status_not_null', 'orders', type_='check')",
    ]
    positions = [up.index(text) for text in ordered]
    assert positions == sorted(positions)
    assert up.index("autocommit_block") < positions[0]
    assert "nullable=True" in _code(third.downgrade_ops)
    assert "Phase: contract" in str(third.message)
    assert third.head == second.rev_id


def test_reversible_sql_op_reverses_to_nothing_or_its_inverse() -> None:
    validate = ReversibleExecuteSQLOp("ALTER TABLE t VALIDATE CONSTRAINT c")
    assert _code(ops.UpgradeOps([AutocommitBlockOp([validate])]).reverse()).count("pass") == 1
    undo = ReversibleExecuteSQLOp("CREATE EXTENSION x", "DROP EXTENSION x").reverse()
    assert isinstance(undo, ReversibleExecuteSQLOp)
    assert undo.sqltext == "DROP EXTENSION x"


def test_other_dialects_only_get_the_header() -> None:
    script = _script([ops.CreateIndexOp("ix", "t", ["a"])])
    directives = [script]
    process_revision_directives(MigrationContext.configure(dialect_name="sqlite"), None, directives)
    assert len(directives) == 1
    assert "autocommit_block" not in _code(script.upgrade_ops)
    assert "Risk Level: HIGH" in str(script.message)
    assert "Findings: AS106 create-index-non-concurrently" in str(script.message)


def test_header_keeps_the_message_for_the_slug() -> None:
    script = _script([ops.AddColumnOp("t", sa.Column("b", sa.Integer))], message="add b")
    process_revision_directives(_pg_context(), None, [script])
    message = script.message
    assert isinstance(message, RevisionMessage)
    assert re.findall(r"\w+", message) == ["add", "b"]  # what Alembic slugs
    rendered = str(message)
    assert rendered.startswith("add b\n\nalembic-safety:\n")
    for line in [
        "Migration ID: aaaa00000001",
        "Description: add b",
        "Risk Level: LOW",
        "Estimated Duration: under a second once its locks are granted (catalog changes only)",
        "Rollback: none",
        "Phase: expand",
        "Deploy Order: before the application change that uses it",
    ]:
        assert line in rendered


def test_dropping_a_column_is_a_contract_step() -> None:
    script = _script([ops.DropColumnOp("orders", "legacy")])
    process_revision_directives(_pg_context(), None, [script])
    assert "Phase: contract" in str(script.message)
    assert "Risk Level: HIGH" in str(script.message)


def test_identifiers_are_quoted_in_generated_sql() -> None:
    column = sa.Column("Status", sa.Integer, nullable=False)
    fk = ops.CreateForeignKeyOp("Fk", "Orders", "users", ["user_id"], ["id"], source_schema="s")
    directives = [_script([ops.AddColumnOp("Orders", column, schema="s"), fk])]
    process_revision_directives(_pg_context(), None, directives)
    assert 'ALTER TABLE s."Orders" VALIDATE CONSTRAINT "Fk"' in _code(directives[1].upgrade_ops)
    assert "'\"Status\" IS NOT NULL'" in _code(directives[2].upgrade_ops)


def test_autocommit_block_runs_through_operations_invoke() -> None:
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer}
    )
    index = ops.CreateIndexOp("ix_t_a", "t", ["a"], postgresql_concurrently=True)
    with context.begin_transaction():
        Operations(context).invoke(AutocommitBlockOp([index, NoteOp("nothing to run")]))
    out = buffer.getvalue()
    assert out.index("COMMIT") < out.index("CREATE INDEX CONCURRENTLY ix_t_a ON t (a)")


def test_compose_runs_the_user_hook_first() -> None:
    seen: list[str] = []

    def user_hook(context: Any, revision: Any, directives: list[ops.MigrationScript]) -> None:
        seen.append(str(directives[0].message))
        directives[0].upgrade_ops.ops.append(ops.CreateIndexOp("ix_user", "t", ["a"]))

    script = _script([])
    compose(user_hook)(_pg_context(), None, [script])
    assert seen == ["change things"]  # no header yet: ours ran after
    assert "postgresql_concurrently=True" in _code(script.upgrade_ops)
    assert "Risk Level: LOW" in str(script.message)


# -- end to end: real files, real PostgreSQL ---------------------------------------------------

MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("email", sa.String(100)))
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("user_id", sa.Integer), sa.Column("total", sa.Integer))
"""

MODELS_V2 = """
import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("email", sa.String(100)))
orders = sa.Table(
    "orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer,
              sa.ForeignKey("users.id", name="fk_orders_user_id_users")),
    sa.Column("total", sa.Integer),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("ix_orders_total", "total"),
)
tags = sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(50), index=True))
"""

ENV_PY = """
from alembic import context
from sqlalchemy import engine_from_config, pool

import alembic_safety.rewrite
import models

config = context.config
with engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        transaction_per_migration=True,
        process_revision_directives=alembic_safety.rewrite.process_revision_directives,
    )
    with context.begin_transaction():
        context.run_migrations()
"""

INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}
"""


@pytest.fixture
def scratch_url() -> Iterator[str]:
    """A throwaway database on the test server, always dropped."""
    if not _reachable():
        pytest.skip(f"no PostgreSQL at {SERVER}")
    name = f"alembic_safety_rw_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _project(root: Path, url: str) -> None:
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, migrations / "script.py.mako")
    (migrations / "env.py").write_text(ENV_PY)
    (root / "models.py").write_text(MODELS_V1)
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    (root / "alembic.ini").write_text(INI.format(url=sa_url))


def _alembic(root: Path, *args: str) -> str:
    result = run_alembic(*args, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _identifiers(path: Path) -> tuple[str, str | None]:
    text = path.read_text()
    revision = re.search(r"^revision: str = '(\w+)'", text, re.MULTILINE)
    down = re.search(r"^down_revision: .* = '?(\w+)'?$", text, re.MULTILINE)
    assert revision, text
    assert down, text
    return revision.group(1), None if down.group(1) == "None" else down.group(1)


def test_autogenerate_writes_safe_chained_revisions(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    _project(root, scratch_url)
    versions = root / "migrations" / "versions"

    _alembic(root, "revision", "--autogenerate", "-m", "initial")
    (initial_path,) = versions.glob("*.py")
    initial, _ = _identifiers(initial_path)
    assert "autocommit_block" not in initial_path.read_text()  # new tables: nothing to do
    _alembic(root, "upgrade", "head")
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@example.com')")
        conn.execute("INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20)")

    (root / "models.py").write_text(MODELS_V2)
    pending = run_alembic("check", cwd=root)  # stock `alembic check` still sees the changes
    assert pending.returncode != 0
    assert "New upgrade operations detected" in pending.stdout + pending.stderr
    # autogenerate's own diff, not the last script of the chain the hook would have made
    assert "('add_column', None, 'orders'" in pending.stdout + pending.stderr
    _alembic(root, "revision", "--autogenerate", "-m", "orders status and user fk")
    new = set(versions.glob("*.py")) - {initial_path}
    assert len(new) == 3  # expand, migrate (backfill, VALIDATE), contract (NOT NULL)
    ids = {path: _identifiers(path) for path in new}
    chain, parent = [], initial
    while len(chain) < len(new):
        chain.append(next(p for p in new if ids[p][1] == parent))  # each builds on the last
        parent = ids[chain[-1]][0]
    first_path, second_path, third_path = chain
    first, second, third = (ids[path][0] for path in chain)
    # File names are what stock Alembic makes of the message: the header does not leak in.
    assert first_path.name == f"{first}_orders_status_and_user_fk.py"
    assert second_path.name == f"{second}_orders_status_and_user_fk_migrate.py"
    assert third_path.name == f"{third}_orders_status_and_user_fk_not_null.py"

    one, two = first_path.read_text(), second_path.read_text()
    assert (
        "    with op.get_context().autocommit_block():\n"
        "        # a failed CREATE INDEX CONCURRENTLY leaves an INVALID index"
    ) in one
    assert (
        "        op.create_index('ix_orders_total', 'orders', ['total'], unique=False, "
        "postgresql_concurrently=True, if_not_exists=True)"
    ) in one
    assert "op.create_index(op.f('ix_tags_name'), 'tags', ['name'], unique=False)\n" in one
    assert re.search(
        r"op\.create_foreign_key\('fk_orders_user_id_users'.*"
        r"postgresql_not_valid=True\)",
        one,
    )
    assert "sa.Column('status', sa.String(length=20), nullable=True)" in one
    assert "VALIDATE" not in one
    three = third_path.read_text()
    assert "ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id_users" in two
    assert "ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null" in three
    assert "# TODO(alembic-safety): backfill orders.status" in two
    assert "#         bind.execute(sa.text('UPDATE orders SET status = <value> " in two
    steps = [(one, first, "expand"), (two, second, "migrate"), (three, third, "contract")]
    for text, rev, phase in steps:
        assert text.startswith('"""orders status and user fk')
        assert f"Migration ID: {rev}\n" in text
        assert "Rollback: included\n" in text
        assert f"Phase: {phase}\n" in text
        assert re.search(r"^Risk Level: (LOW|MEDIUM)$", text, re.MULTILINE)
    # the index build (one), VALIDATE (two, three) scan orders: the header names it, sized
    # where autogenerate ran; the new table tags is empty while the revision runs
    for text in (one, two, three):
        assert re.search(
            r"^Estimated Duration: grows with the rows of orders( \(~[\d,]+ rows here\))?; "
            r"measure it with alembic-safety dry-run$",
            text,
            re.MULTILINE,
        )
    assert "Deploy Order: before the application change that uses it\n" in one
    assert "Deploy Order: after the previous revision, while the application runs\n" in two

    check = run_cli("check", "-c", root / "alembic.ini", "--fail-on", "HIGH", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    report = run_cli("check", "-c", root / "alembic.ini", "--format", "json", cwd=root)
    risks = {entry["revision"]: entry["risk"] for entry in json.loads(report.stdout)["revisions"]}
    for text, rev, _ in steps:  # the header says what the linter says
        assert f"Risk Level: {risks[rev]}\n" in text

    # The user fills in the backfill as the TODO shows; the rows make NOT NULL bite if wrong.
    second_path.write_text(_uncomment_backfill(two, value="CAST(id AS text)"))
    check = run_cli("check", "-c", root / "alembic.ini", "--fail-on", "MEDIUM", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr  # the suggested loop is safe
    _alembic(root, "upgrade", "head")
    _alembic(root, "downgrade", "-3")
    _alembic(root, "upgrade", "head")

    with psycopg.connect(scratch_url) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_orders_total'::regclass"
        ).fetchone()
        constraints = dict(
            conn.execute(
                "SELECT conname, convalidated FROM pg_constraint "
                "WHERE conrelid = 'orders'::regclass AND contype IN ('f', 'c')"
            ).fetchall()
        )
        not_null = conn.execute(
            "SELECT attnotnull FROM pg_attribute "
            "WHERE attrelid = 'orders'::regclass AND attname = 'status'"
        ).fetchone()
        statuses = conn.execute("SELECT DISTINCT status FROM orders").fetchall()
    assert valid == (True,)
    assert constraints == {"fk_orders_user_id_users": True}  # the NOT NULL check is gone
    assert not_null == (True,)
    assert sorted(statuses) == [("1",), ("2",)]

    _alembic(root, "check")  # models and database agree: nothing left for autogenerate


def _uncomment_backfill(source: str, value: str) -> str:
    """What a user does with the TODO: uncomment the suggested loop and choose the value."""
    lines = source.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "# with op.get_context()" in line)
    end = next(i for i, line in enumerate(lines) if "#         last = row[0]" in line)
    for i in range(start, end + 1):
        lines[i] = lines[i].replace("# ", "", 1).replace("<value>", value)
    return "".join(lines)
