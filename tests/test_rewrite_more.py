"""Autogenerate rewrites, second part: timeouts, settings, drops in a final contract script,
shadow columns for rewriting type changes; unit tests and one end-to-end run on real files
against a scratch PostgreSQL database holding rows.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.config import Config
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from conftest import run_cli
from test_rewrite import _alembic, _identifiers, _project, scratch_url

from alembic_safety.errors import UsageError
from alembic_safety.rewrite import (
    AutocommitBlockOp,
    BackfillOp,
    NoteOp,
    ReversibleExecuteSQLOp,
    RewriteSettings,
    process_revision_directives,
)

__all__ = ["scratch_url"]  # the fixture, re-used from test_rewrite

SET_LOCK = "op.execute(\"SET lock_timeout = '5s'\")"


def _code(container: ops.OpContainer) -> str:
    return render_python_code(container)  # type: ignore[arg-type]


def _models() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("total", sa.BigInteger),
    )
    sa.Table(
        "pairs",
        metadata,
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
        sa.Column("total", sa.BigInteger),
    )
    return metadata


def _context(metadata: sa.MetaData | None = None) -> MigrationContext:
    return MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": metadata or _models()}
    )


def _script(
    upgrade: list[ops.MigrateOperation], downgrade: list[ops.MigrateOperation] | None = None
) -> ops.MigrationScript:
    return ops.MigrationScript(
        rev_id="bbbb00000001",
        message="change things",
        upgrade_ops=ops.UpgradeOps(upgrade),
        downgrade_ops=ops.DowngradeOps(downgrade or []),
    )


def _widen(table: str = "orders") -> tuple[ops.ModifyTableOps, ops.ModifyTableOps]:
    up = ops.AlterColumnOp(table, "total", existing_type=sa.INTEGER(), modify_type=sa.BigInteger())
    down = ops.AlterColumnOp(
        table, "total", existing_type=sa.BigInteger(), modify_type=sa.INTEGER()
    )
    return ops.ModifyTableOps(table, [up]), ops.ModifyTableOps(table, [down])


def _drop_legacy() -> tuple[ops.ModifyTableOps, ops.ModifyTableOps]:
    column = sa.Column("legacy", sa.String(20))
    drop = ops.DropColumnOp.from_column_and_tablename(None, "orders", column)
    return ops.ModifyTableOps("orders", [drop]), ops.ModifyTableOps("orders", [drop.reverse()])


# -- settings ----------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = RewriteSettings()
    assert settings.lock_timeout == "5s"
    assert settings.statement_timeout is None
    assert settings.backfill_batch_size == 5000
    assert settings.phases is True
    assert settings.rewrites == {"index", "constraint", "not_null", "drop", "type_change", "rename"}
    assert RewriteSettings.from_config(None) == settings


def test_settings_from_pyproject_then_ini(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.alembic_safety]\n"
        'fail_on = "HIGH"\n'  # a linter key: not ours, ignored here
        'rewrite_lock_timeout = "2s"\n'
        'rewrite_statement_timeout = "1min"\n'
        "backfill_batch_size = 100\n"
        'rewrites = ["index", "drop"]\n'
    )
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = m\n\n[alembic_safety]\nrewrite_phases = false\n")
    settings = RewriteSettings.from_config(Config(str(ini)))
    assert settings == RewriteSettings(
        lock_timeout="2s",
        statement_timeout="1min",
        backfill_batch_size=100,
        phases=False,
        rewrites=frozenset({"index", "drop"}),
    )
    ini.write_text("[alembic]\n\n[alembic_safety]\nrewrite_lock_timeout = 0\nrewrites = index\n")
    settings = RewriteSettings.from_config(Config(str(ini)))
    assert settings.lock_timeout is None
    assert settings.rewrites == {"index"}


@pytest.mark.parametrize(
    ("key", "value"),
    [("backfill_batch_size", "0"), ("rewrite_phases", "maybe"), ("rewrites", "index, renames")],
)
def test_settings_reject_bad_values(key: str, value: str) -> None:
    with pytest.raises(UsageError, match=key):
        RewriteSettings.from_mapping({key: value})


# -- timeouts ----------------------------------------------------------------------------------


def test_every_script_starts_with_set_lock_timeout_upgrade_and_downgrade() -> None:
    fk = ops.CreateForeignKeyOp("fk_o_u", "orders", "users", ["user_id"], ["id"])
    script = _script([fk], [ops.DropConstraintOp("fk_o_u", "orders", type_="foreignkey")])
    directives = [script]
    process_revision_directives(_context(), None, directives)
    first, second = directives
    for container in (
        first.upgrade_ops,
        first.downgrade_ops,
        second.upgrade_ops,
        second.downgrade_ops,  # it puts the constraint back to NOT VALID
    ):
        operation = container.ops[0]
        assert isinstance(operation, ReversibleExecuteSQLOp)
        assert operation.sqltext == "SET lock_timeout = '5s'"
    assert _code(first.upgrade_ops).index(SET_LOCK) < _code(first.upgrade_ops).index("fk_o_u")
    # The SET has no inverse: reversing the upgrade does not try to undo it.
    assert "SET" not in _code(first.upgrade_ops.reverse())


def test_statement_timeout_and_lock_timeout_off() -> None:
    script = _script([ops.AddColumnOp("t", sa.Column("b", sa.Integer))])
    settings = RewriteSettings(statement_timeout="30s")
    process_revision_directives(_context(), None, [script], settings=settings)
    up = _code(script.upgrade_ops)
    assert up.index(SET_LOCK) < up.index("SET statement_timeout = '30s'") < up.index("add_column")
    script = _script([ops.AddColumnOp("t", sa.Column("b", sa.Integer))])
    process_revision_directives(_context(), None, [script], RewriteSettings(lock_timeout=None))
    assert "SET" not in _code(script.upgrade_ops)


def test_empty_revision_gets_no_set() -> None:
    script = _script([])
    process_revision_directives(_context(), None, [script])
    assert "SET" not in _code(script.upgrade_ops)


# -- drops -------------------------------------------------------------------------------------


def test_drop_column_moves_to_a_final_contract_script() -> None:
    drop_up, drop_down = _drop_legacy()
    add = ops.ModifyTableOps("orders", [ops.AddColumnOp("orders", sa.Column("note", sa.Text))])
    remove = ops.ModifyTableOps("orders", [ops.DropColumnOp("orders", "note")])
    script = _script([add, drop_up], [drop_down, remove])
    directives = [script]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 2
    first, final = directives
    assert final.head == first.rev_id
    assert "drop_column" not in _code(first.upgrade_ops)
    assert "legacy" not in _code(first.downgrade_ops)
    assert "add_column('orders', sa.Column('note'" in _code(first.upgrade_ops)
    up, down = _code(final.upgrade_ops), _code(final.downgrade_ops)
    assert up.index(SET_LOCK) < up.index("op.drop_column('orders', 'legacy')")
    assert "note" not in up
    assert "op.add_column('orders', sa.Column('legacy', sa.String(length=20)" in down
    header = str(final.message)
    assert final.message == "change things (drop)"
    assert "Phase: contract\n" in header
    assert "Risk Level: HIGH" in header
    assert (
        "Escalation: needs the application to stop using orders.legacy first; "
        "deploy after that release"
    ) in header
    assert "Escalation" not in str(first.message)
    assert "Phase: expand" in str(first.message)


@pytest.mark.parametrize(
    ("column", "comes_back_nullable"),
    [
        (sa.Column("legacy", sa.String(20), nullable=False), True),
        (sa.Column("legacy", sa.String(20), nullable=False, server_default="x"), False),
        (sa.Column("legacy", sa.String(20), nullable=True), False),
    ],
)
def test_a_dropped_not_null_column_comes_back_nullable(
    column: sa.Column[str], comes_back_nullable: bool
) -> None:
    """Its values went with the drop: ADD COLUMN ... NOT NULL would fail on existing rows."""
    script = _script(
        [ops.ModifyTableOps("orders", [ops.DropColumnOp("orders", "legacy")])],
        [ops.ModifyTableOps("orders", [ops.AddColumnOp("orders", column)])],
    )
    model_nullable = column.nullable
    process_revision_directives(_context(), None, [script])
    down = _code(script.downgrade_ops)
    assert ("nullable=True" in down) is (comes_back_nullable or model_nullable)
    assert ("comes back nullable" in down) is comes_back_nullable
    assert column.nullable is model_nullable  # the model's Column is copied, not changed


def test_drop_table_moves_with_its_indexes() -> None:
    table = sa.Table("old", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    index = sa.Index("ix_old_id", table.c.id)
    script = _script(
        [
            ops.AddColumnOp("orders", sa.Column("note", sa.Text)),
            ops.DropIndexOp.from_index(index),
            ops.DropTableOp.from_table(table),
        ],
        [
            ops.CreateTableOp.from_table(table),
            ops.CreateIndexOp.from_index(index),
            ops.DropColumnOp("orders", "note"),
        ],
    )
    directives = [script]
    process_revision_directives(_context(), None, directives)
    first, final = directives
    assert "old" not in _code(first.upgrade_ops) + _code(first.downgrade_ops)
    up, down = _code(final.upgrade_ops), _code(final.downgrade_ops)
    assert up.index("drop_index('ix_old_id'") < up.index("drop_table('old')")
    assert down.index("create_table('old'") < down.index("create_index('ix_old_id'")
    assert "Risk Level: CRITICAL" in str(final.message)
    assert "stop using old first" in str(final.message)


def test_a_revision_of_only_drops_stays_one_contract_script() -> None:
    drop_up, drop_down = _drop_legacy()
    directives = [_script([drop_up], [drop_down])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    assert "Phase: contract" in str(directives[0].message)
    assert "stop using orders.legacy" in str(directives[0].message)


def test_without_phases_validation_stays_in_the_same_file() -> None:
    fk = ops.CreateForeignKeyOp("fk_o_u", "orders", "users", ["user_id"], ["id"])
    directives = [_script([fk], [ops.DropConstraintOp("fk_o_u", "orders", type_="foreignkey")])]
    process_revision_directives(_context(), None, directives, RewriteSettings(phases=False))
    assert len(directives) == 1
    up = _code(directives[0].upgrade_ops)
    assert up.index(SET_LOCK) < up.index("postgresql_not_valid=True") < up.index("VALIDATE")
    assert up.index("autocommit_block") < up.index("VALIDATE")


def test_disabled_rewrites_leave_ops_as_generated() -> None:
    fk = ops.CreateForeignKeyOp("fk_o_u", "orders", "users", ["user_id"], ["id"])
    index = ops.CreateIndexOp("ix_o_t", "orders", ["total"])
    directives = [_script([fk, index])]
    settings = RewriteSettings(rewrites=frozenset({"type_change"}))
    process_revision_directives(_context(), None, directives, settings)
    assert len(directives) == 1
    up = _code(directives[0].upgrade_ops)
    assert "not_valid" not in up
    assert "concurrently" not in up
    assert SET_LOCK in up


def test_drops_stay_in_place_without_phases_or_when_disabled() -> None:
    for settings in (RewriteSettings(phases=False), RewriteSettings(rewrites=frozenset())):
        drop_up, drop_down = _drop_legacy()
        add = ops.AddColumnOp("orders", sa.Column("note", sa.Text))
        directives = [_script([add, drop_up], [drop_down])]
        process_revision_directives(_context(), None, directives, settings)
        assert len(directives) == 1
        assert "drop_column" in _code(directives[0].upgrade_ops)


# -- rewriting type changes --------------------------------------------------------------------


def test_rewriting_type_change_becomes_expand_migrate_contract() -> None:
    up, down = _widen()
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    expand, migrate, contract = directives
    assert migrate.head == expand.rev_id
    assert contract.head == migrate.rev_id
    assert [str.__str__(s.message) for s in directives] == [
        "change things",
        "change things (migrate)",
        "change things (contract)",
    ]
    code = _code(expand.upgrade_ops)
    ordered = [
        SET_LOCK,
        "op.add_column('orders', sa.Column('total_new', sa.BigInteger(), nullable=True))",
        "CREATE FUNCTION orders_total_new_sync() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.total_new := CAST(NEW.total AS BIGINT); RETURN NEW; END $$",
        "CREATE TRIGGER orders_total_new_sync BEFORE INSERT OR UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION orders_total_new_sync()",
    ]
    positions = [code.index(text) for text in ordered]
    assert positions == sorted(positions)
    assert "alter_column" not in code
    back = _code(expand.downgrade_ops)
    ordered = [
        SET_LOCK,
        "DROP TRIGGER orders_total_new_sync ON orders",
        "DROP FUNCTION orders_total_new_sync()",
        "op.drop_column('orders', 'total_new')",
    ]
    positions = [back.index(text) for text in ordered]
    assert positions == sorted(positions)
    assert "alter_column" not in back
    assert "Phase: expand" in str(expand.message)

    code = _code(migrate.upgrade_ops)
    assert code.index(SET_LOCK) < code.index("with op.get_context().autocommit_block():")
    assert (
        "UPDATE orders SET total_new = CAST(total AS BIGINT) WHERE id > :last AND id <= :upto "
        "AND total_new IS DISTINCT FROM CAST(total AS BIGINT)"
    ) in code
    assert "for last in range(low or 0, high or 0, 5000):" in code
    assert "raise RuntimeError(" in code
    compile(
        textwrap.dedent("    " + code), "migrate", "exec"
    )  # the nested blocks are indented right
    assert "Phase: migrate" in str(migrate.message)

    code = _code(contract.upgrade_ops)
    ordered = [
        SET_LOCK,
        "DROP TRIGGER orders_total_new_sync ON orders",
        "op.alter_column('orders', 'total',",
        "new_column_name='total_old'",
        "op.alter_column('orders', 'total_new',",
        "new_column_name='total',",
        "op.drop_column('orders', 'total_old')",
    ]
    positions = [code.index(text) for text in ordered]
    assert positions == sorted(positions)
    back = _code(contract.downgrade_ops)
    assert "UPDATE orders SET total_old = CAST(total AS INTEGER) WHERE id > :last" in back
    assert back.index("CREATE FUNCTION") < back.index("CREATE TRIGGER")
    header = str(contract.message)
    assert "Phase: contract" in header
    assert (
        "Escalation: renames orders.total_new to total: deploy with the application change "
        "that reads total as BIGINT"
    ) in header
    assert "total_old first" not in header  # a column of our own: no one else uses it


def test_catalog_only_type_change_is_left_alone() -> None:
    widen = ops.AlterColumnOp(
        "orders", "name", existing_type=sa.String(10), modify_type=sa.String(20)
    )
    directives = [_script([ops.ModifyTableOps("orders", [widen])])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    assert "type_=sa.String(length=20)" in _code(directives[0].upgrade_ops)


def test_type_change_without_single_integer_key_gets_a_todo() -> None:
    up, down = _widen("pairs")
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    code = _code(directives[0].upgrade_ops)
    assert "# TODO(alembic-safety): pairs.total changes type" in code
    assert "no single-column integer primary key" in code
    assert code.index("TODO") < code.index("type_=sa.BigInteger()")


def test_type_change_without_phases_stays_as_is() -> None:
    up, down = _widen()
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives, RewriteSettings(phases=False))
    assert len(directives) == 1
    assert "type_=sa.BigInteger()" in _code(directives[0].upgrade_ops)


def test_backfill_op_reverses_to_nothing() -> None:
    backfill = BackfillOp("t", "id", "c_new", "CAST(c AS BIGINT)", 10)
    assert isinstance(backfill.reverse(), NoteOp)
    assert "pass" in _code(ops.UpgradeOps([AutocommitBlockOp([backfill])]).reverse())


# -- end to end: real files, real PostgreSQL ---------------------------------------------------

MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("total", sa.Integer), sa.Column("legacy", sa.String(20)))
"""

MODELS_V2 = """
import sqlalchemy as sa

metadata = sa.MetaData()
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("total", sa.BigInteger))
"""

#: Sparse keys, so that the 5000-wide keyset ranges include empty ones.
ROWS = [(1, 10), (2, None), (4999, -7), (5000, 2_000_000_000), (5001, 0), (12_345, 42)]

COLUMNS = (
    "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length "
    "FROM information_schema.columns WHERE table_schema = 'public' "
    "AND table_name <> 'alembic_version' ORDER BY 1, 2"
)


def _first_statement(source: str, function: str) -> str:
    body = source.split(f"def {function}() -> None:", 1)[1]
    for line in body.splitlines()[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", '"""')):
            return stripped
    raise AssertionError(f"no body in {function}")


def _chain(versions: Path, start: str) -> list[Path]:
    """The revision files after ``start``, in upgrade order."""
    by_down = {_identifiers(p)[1]: p for p in versions.glob("*.py")}
    chain, current = [], start
    while current in by_down:
        path = by_down[current]
        chain.append(path)
        current = _identifiers(path)[0]
    return chain


def test_autogenerate_type_change_and_drop_column_end_to_end(
    tmp_path: Path, scratch_url: str
) -> None:
    root = tmp_path / "proj"
    _project(root, scratch_url)
    (root / "models.py").write_text(MODELS_V1)
    versions = root / "migrations" / "versions"
    _alembic(root, "revision", "--autogenerate", "-m", "initial")
    (initial_path,) = versions.glob("*.py")
    initial, _ = _identifiers(initial_path)
    _alembic(root, "upgrade", "head")
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO orders (id, total, legacy) VALUES (%s, %s, 'x')", ROWS)
        before = conn.execute(COLUMNS).fetchall()

    (root / "models.py").write_text(MODELS_V2)
    _alembic(root, "revision", "--autogenerate", "-m", "widen total")
    chain = _chain(versions, initial)
    assert len(chain) == 4, [p.name for p in chain]
    ids = [_identifiers(p)[0] for p in chain]
    assert [p.name for p in chain] == [
        f"{ids[0]}_widen_total.py",
        f"{ids[1]}_widen_total_migrate.py",
        f"{ids[2]}_widen_total_contract.py",
        f"{ids[3]}_widen_total_drop.py",
    ]
    texts = [p.read_text() for p in chain]
    expand, migrate, contract, drop = texts
    for text, phase in zip(texts, ["expand", "migrate", "contract", "contract"], strict=True):
        assert f"Phase: {phase}\n" in text
        assert _first_statement(text, "upgrade") == SET_LOCK
    for text in (expand, contract, drop):
        assert _first_statement(text, "downgrade") == SET_LOCK
    assert _first_statement(migrate, "downgrade") == "pass"
    # The drop is alone in the final script; nothing else drops or alters `legacy`.
    assert "legacy" not in expand + migrate + contract
    assert "op.drop_column('orders', 'legacy')" in drop
    assert "drop_column" not in drop.replace("op.drop_column('orders', 'legacy')", "")
    assert "Escalation: needs the application to stop using orders.legacy first" in drop
    assert "Escalation: renames orders.total_new to total" in contract
    assert "CREATE TRIGGER" in expand
    assert "IS DISTINCT FROM" in migrate

    # The linter: only the documented contract findings reach HIGH.
    report = run_cli("check", "-c", root / "alembic.ini", "--format", "json", cwd=root)
    assert report.returncode in (0, 1), report.stdout + report.stderr
    revisions = {entry["revision"]: entry for entry in json.loads(report.stdout)["revisions"]}
    high = sorted(
        (rev, finding["code"])
        for rev, entry in revisions.items()
        for finding in entry["findings"]
        if finding["risk"] in ("HIGH", "CRITICAL")
    )
    assert high == sorted([(ids[2], "AS301"), (ids[3], "AS301")]), high
    for text, rev in zip(texts, ids, strict=True):  # the header says what the linter says
        assert f"Risk Level: {revisions[rev]['risk']}\n" in text
    check = run_cli("check", "-c", root / "alembic.ini", "--fail-on", "HIGH", cwd=root)
    assert check.returncode == 1  # exactly the two AS301 above
    assert check.stdout.count("AS301") >= 2

    # Expand: the trigger keeps the shadow column in step with new writes.
    _alembic(root, "upgrade", ids[0])
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("INSERT INTO orders (id, total) VALUES (20000, 5)")
        shadow = conn.execute("SELECT total_new FROM orders WHERE id = 20000").fetchone()
        assert shadow == (5,)
        assert conn.execute("SELECT count(*) FROM orders WHERE total_new IS NULL").fetchone()
    rows = sorted([*ROWS, (20000, 5)])

    _alembic(root, "upgrade", "head")
    with psycopg.connect(scratch_url) as conn:
        data_type = conn.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'orders' AND column_name = 'total'"
        ).fetchone()
        values = conn.execute("SELECT id, total FROM orders ORDER BY id").fetchall()
        columns = {r[1] for r in conn.execute(COLUMNS).fetchall()}
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass "
            "AND NOT tgisinternal"
        ).fetchone()
    assert data_type == ("bigint",)
    assert values == rows
    assert columns == {"id", "total"}
    assert leftovers == (0,)
    _alembic(root, "check")  # the database matches the models: nothing left to generate

    _alembic(root, "downgrade", initial)
    with psycopg.connect(scratch_url) as conn:
        after = conn.execute(COLUMNS).fetchall()
        values = conn.execute("SELECT id, total FROM orders ORDER BY id").fetchall()
    assert after == before
    assert values == rows

    # Rerunning the backfill after a partial one only writes what still differs.
    _alembic(root, "upgrade", ids[1])
    _alembic(root, "downgrade", ids[0])
    _alembic(root, "upgrade", ids[1])


def test_linter_accepts_the_rewrite_settings(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _project(root, "postgresql://nobody@127.0.0.1:1/none")
    (root / "pyproject.toml").write_text(
        "[tool.alembic_safety]\n"
        'rewrite_lock_timeout = "2s"\n'
        'rewrite_statement_timeout = "1min"\n'
        "backfill_batch_size = 1000\n"
        "rewrite_phases = true\n"
        'rewrites = ["index", "drop"]\n'
    )
    result = run_cli("check", "-c", root / "alembic.ini", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def _run(operations: Operations, container: ops.OpContainer) -> None:
    """Run a script's ops as Alembic would run the rendered file (tables' op groups flattened)."""
    for operation in container.ops:
        if isinstance(operation, ops.ModifyTableOps):
            _run(operations, operation)
        else:
            operations.invoke(operation)


def test_not_null_type_change_round_trip_on_postgresql(scratch_url: str) -> None:
    """The generated ops, run in order on rows: NOT NULL is kept both ways, values too."""
    metadata = sa.MetaData()
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("qty", sa.BigInteger, nullable=False),
    )
    up = ops.AlterColumnOp(
        "items",
        "qty",
        existing_type=sa.INTEGER(),
        existing_nullable=False,
        modify_type=sa.BigInteger(),
    )
    down = ops.AlterColumnOp(
        "items",
        "qty",
        existing_type=sa.BigInteger(),
        existing_nullable=False,
        modify_type=sa.INTEGER(),
    )
    directives = [
        _script([ops.ModifyTableOps("items", [up])], [ops.ModifyTableOps("items", [down])])
    ]
    url = scratch_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    query = (
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'items' ORDER BY 1"
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TABLE items (id serial PRIMARY KEY, qty int NOT NULL)"))
            conn.execute(sa.text("INSERT INTO items (qty) SELECT g FROM generate_series(1, 25) g"))
            conn.commit()
            context = MigrationContext.configure(
                conn, opts={"target_metadata": metadata, "transaction_per_migration": True}
            )
            process_revision_directives(
                context, None, directives, RewriteSettings(backfill_batch_size=7)
            )
            assert len(directives) == 3
            before = conn.execute(sa.text(query)).fetchall()
            operations = Operations(context)
            conn.commit()
            for script in directives:  # as env.py's transaction_per_migration=True does
                with context.begin_transaction(_per_migration=True):
                    _run(operations, script.upgrade_ops)
            assert conn.execute(sa.text(query)).fetchall() == [
                ("id", "integer", "NO"),
                ("qty", "bigint", "NO"),
            ]
            assert conn.execute(sa.text("SELECT sum(qty) FROM items")).scalar() == 325
            conn.commit()
            for script in reversed(directives):
                with context.begin_transaction(_per_migration=True):
                    _run(operations, script.downgrade_ops)
            assert conn.execute(sa.text(query)).fetchall() == before
            assert conn.execute(sa.text("SELECT sum(qty) FROM items")).scalar() == 325
    finally:
        engine.dispose()


# -- what a shadow column cannot carry, long names, chain order --------------------------------


def _retype(column: str, **changes: object) -> ops.ModifyTableOps:
    alter = ops.AlterColumnOp(
        "orders", column, existing_type=sa.INTEGER(), modify_type=sa.BigInteger(), **changes
    )
    return ops.ModifyTableOps("orders", [alter])


@pytest.mark.parametrize(
    ("column", "changes", "extra", "why"),
    [
        ("id", {}, None, "it is the primary key"),
        ("total", {"modify_nullable": False}, None, "also changes its nullability"),
        ("total", {}, "check", "the model's CheckConstraint ck_orders_total uses it"),
        ("total", {}, "unique", "the model's UniqueConstraint uq_orders_total uses it"),
        ("total", {}, "fk", "lines.order_total refers to it"),
    ],
)
def test_a_type_change_a_shadow_column_cannot_carry_keeps_a_todo(
    column: str, changes: dict[str, object], extra: str | None, why: str
) -> None:
    """The swap drops the old column with everything on it; what the models cannot rebuild (a
    primary key, constraints, foreign keys from other tables) stays as generated, with why."""
    metadata = _models()
    orders = metadata.tables["orders"]
    if extra == "check":
        orders.append_constraint(sa.CheckConstraint("total >= 0", name="ck_orders_total"))
    elif extra == "unique":
        orders.append_constraint(sa.UniqueConstraint("total", name="uq_orders_total"))
    elif extra == "fk":
        sa.Table(
            "lines",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("order_total", sa.BigInteger, sa.ForeignKey("orders.total")),
        )
    directives = [_script([_retype(column, **changes)])]
    process_revision_directives(_context(metadata), None, directives)
    assert len(directives) == 1  # no shadow column, no follow-ups
    code = _code(directives[0].upgrade_ops)
    assert "TODO(alembic-safety)" in code
    assert why in code.replace("\n    # ", " ")
    assert "type_=sa.BigInteger()" in code  # the change itself, as generated


def test_generated_names_of_a_long_table_stay_unique() -> None:
    table = "t" * 61
    metadata = sa.MetaData()
    sa.Table(
        table,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.BigInteger),
        sa.Column("b", sa.BigInteger),
    )
    alters = [
        ops.AlterColumnOp(table, name, existing_type=sa.INTEGER(), modify_type=sa.BigInteger())
        for name in ("a", "b")
    ]
    adds = [ops.AddColumnOp(table, sa.Column(name, sa.Text, nullable=False)) for name in "cd"]
    directives = [_script([ops.ModifyTableOps(table, [*alters, *adds])])]
    process_revision_directives(_context(metadata), None, directives)
    code = "\n".join(_code(script.upgrade_ops) for script in directives)
    functions = re.findall(r"CREATE FUNCTION (\S+)\(\)", code)
    checks = re.findall(r"create_check_constraint\('([^']+)'", code)
    assert len(functions) == len(set(functions)) == 2
    assert len(checks) == len(set(checks)) == 2
    assert all(len(name.strip('"').encode()) <= 63 for name in [*functions, *checks])


def test_every_migrate_step_comes_before_any_contract_step() -> None:
    rename = ops.AlterColumnOp(
        "orders", "total", existing_type=sa.BigInteger(), modify_name="amount"
    )
    add = ops.AddColumnOp("orders", sa.Column("status", sa.Text, nullable=False))
    directives = [_script([ops.ModifyTableOps("orders", [add, rename])])]
    metadata = _models()
    metadata.tables["orders"].append_column(sa.Column("amount", sa.BigInteger))
    process_revision_directives(_context(metadata), None, directives)
    phases = [re.search(r"Phase: (\w+)", str(s.message)).group(1) for s in directives]  # type: ignore[union-attr]
    assert phases[0] == "expand"
    assert phases == sorted(phases, key=["expand", "migrate", "contract"].index), phases
    assert phases.count("contract") == 2  # NOT NULL, and the rename's
