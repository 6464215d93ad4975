"""Renames made by a user's hook: expand → migrate → contract instead of a breaking rename.

Unit tests feed ops in and read the rendered code out; the end-to-end test runs the real
``alembic revision --autogenerate`` on a project whose env.py composes a hook (turning drop + add
into renames) with ours, then upgrades step by step on a scratch PostgreSQL database holding rows,
writes through the old and the new names from a second connection, and downgrades each step.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import alembic
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from conftest import run_alembic, run_cli
from test_rewrite import _alembic, _identifiers, scratch_url
from test_rewrite_more import _chain

from alembic_safety.config import Settings
from alembic_safety.errors import UsageError
from alembic_safety.rewrite import RewriteSettings, process_revision_directives

__all__ = ["scratch_url"]  # the fixture, re-used from test_rewrite

SET_LOCK = "op.execute(\"SET lock_timeout = '5s'\")"


def _code(container: ops.OpContainer) -> str:
    return render_python_code(container)  # type: ignore[arg-type]


def _compiles(code: str, name: str) -> None:
    """The rendered body is valid Python (nested blocks indented right)."""
    compile(textwrap.dedent("    " + code), name, "exec")


def _in_order(code: str, *texts: str) -> None:
    positions = [code.index(text) for text in texts]
    assert positions == sorted(positions), list(zip(texts, positions, strict=True))


def _models() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="new", index=True),
        sa.Column("note", sa.Text),
    )
    sa.Table(
        "pairs",
        metadata,
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
        sa.Column("label", sa.Text),
    )
    sa.Table(
        "tickets",
        metadata,
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("counter", sa.Integer, server_default=sa.text("nextval('t_seq')")),
    )
    return metadata


def _context() -> MigrationContext:
    return MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": _models()}
    )


def _rename(
    table: str, old: str, new: str, **existing: Any
) -> tuple[ops.ModifyTableOps, ops.ModifyTableOps]:
    """What a user's hook writes for a column rename, both ways."""
    up = ops.AlterColumnOp(table, old, modify_name=new, **existing)
    down = ops.AlterColumnOp(table, new, modify_name=old, **existing)
    return ops.ModifyTableOps(table, [up]), ops.ModifyTableOps(table, [down])


def _state_to_status() -> tuple[ops.ModifyTableOps, ops.ModifyTableOps]:
    return _rename(
        "orders",
        "state",
        "status",
        existing_type=sa.String(20),
        existing_nullable=False,
        existing_server_default=sa.DefaultClause(sa.text("'new'::character varying")),
    )


def _script(
    upgrade: list[ops.MigrateOperation], downgrade: list[ops.MigrateOperation] | None = None
) -> ops.MigrationScript:
    return ops.MigrationScript(
        rev_id="cccc00000001",
        message="rename things",
        upgrade_ops=ops.UpgradeOps(upgrade),
        downgrade_ops=ops.DowngradeOps(downgrade or []),
    )


# -- columns -----------------------------------------------------------------------------------


def test_column_rename_becomes_expand_migrate_contract() -> None:
    up, down = _state_to_status()
    directives = [_script([up], [down])]
    process_revision_directives(
        _context(), None, directives, RewriteSettings(backfill_batch_size=7)
    )
    expand, migrate, contract = directives
    assert (migrate.head, contract.head) == (expand.rev_id, migrate.rev_id)
    assert [str.__str__(s.message) for s in directives] == [
        "rename things",
        "rename things (migrate)",
        "rename things (contract)",
    ]

    code = _code(expand.upgrade_ops)
    _in_order(
        code,
        SET_LOCK,
        "op.add_column('orders', sa.Column('status', sa.String(length=20), nullable=True))",
        "CREATE FUNCTION orders_status_rename_sync() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'INSERT' THEN IF NEW.status IS NULL THEN NEW.status := NEW.state; "
        "ELSE NEW.state := NEW.status; END IF; "
        "ELSIF NEW.status IS DISTINCT FROM OLD.status THEN NEW.state := NEW.status; "
        "ELSE NEW.status := NEW.state; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER orders_status_rename_sync BEFORE INSERT OR UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION orders_status_rename_sync()",
    )
    assert "new_column_name" not in code  # no breaking rename left
    assert "server_default" not in code  # the default moves in the contract step
    back = _code(expand.downgrade_ops)
    _in_order(
        back,
        SET_LOCK,
        "DROP TRIGGER orders_status_rename_sync ON orders",
        "DROP FUNCTION orders_status_rename_sync()",
        "op.drop_column('orders', 'status')",
    )
    assert "new_column_name" not in back
    header = str(expand.message)
    assert "Phase: expand" in header
    assert "Risk Level: LOW" in header
    assert "Escalation" not in header

    code = _code(migrate.upgrade_ops)
    _in_order(
        code,
        SET_LOCK,
        "# TODO(alembic-safety): ix_orders_status use orders.status in the models;",
        "with op.get_context().autocommit_block():",
        "UPDATE orders SET status = state WHERE id > :last AND id <= :upto "
        "AND status IS DISTINCT FROM state",
        "raise RuntimeError(",
    )
    assert "range(low or 0, high or 0, 7)" in code
    _compiles(code, "migrate")
    assert "pass" in _code(migrate.downgrade_ops)
    assert "Phase: migrate" in str(migrate.message)

    code = _code(contract.upgrade_ops)
    _in_order(
        code,
        SET_LOCK,
        "with op.get_context().autocommit_block():",
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM orders WHERE status IS DISTINCT FROM state) "
        "THEN RAISE EXCEPTION 'orders.status differs from state in some rows: run the migrate "
        "revision (its backfill) first, then retry'; END IF; END $$",
        "op.create_check_constraint('ck_orders_status_not_null', 'orders', "
        "'status IS NOT NULL', postgresql_not_valid=True)",
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null",
        "nullable=False)",
        "op.drop_constraint('ck_orders_status_not_null', 'orders', type_='check')",
        "server_default=sa.text(\"'new'::character varying\")",
        "DROP TRIGGER orders_status_rename_sync ON orders",
        "DROP FUNCTION orders_status_rename_sync()",
        "op.drop_column('orders', 'state')",
    )
    _compiles(code, "contract")
    back = _code(contract.downgrade_ops)
    _in_order(
        back,
        SET_LOCK,
        "op.add_column('orders', sa.Column('state', sa.String(length=20), nullable=True))",
        "op.alter_column('orders', 'state',",
        "server_default=None",
        "CREATE FUNCTION orders_status_rename_sync()",
        "CREATE TRIGGER orders_status_rename_sync",
        "with op.get_context().autocommit_block():",
        "UPDATE orders SET state = status WHERE id > :last",
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_state_not_null",
        "op.drop_constraint('ck_orders_state_not_null', 'orders', type_='check')",
    )
    _compiles(back, "contract downgrade")
    header = str(contract.message)
    assert "Phase: contract" in header
    assert (
        "Escalation: needs the application to read and write orders.status only; "
        "deploy after that release"
    ) in header
    assert "Risk Level: HIGH" in header  # it drops the old column


def test_nullable_column_without_default_has_a_short_contract() -> None:
    up, down = _rename("orders", "remark", "note", existing_type=sa.Text(), existing_nullable=True)
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    code = _code(directives[2].upgrade_ops)
    assert "IS NOT NULL" not in code
    assert "server_default" not in code
    _in_order(code, "WHERE note IS DISTINCT FROM remark) THEN RAISE", "DROP TRIGGER")
    assert "op.drop_column('orders', 'remark')" in code
    back = _code(directives[2].downgrade_ops)
    assert "NOT NULL" not in back
    assert "UPDATE orders SET remark = note" in back
    assert "TODO" not in _code(directives[1].upgrade_ops)  # no index uses `note`


def test_existing_type_and_nullability_fall_back_to_the_model() -> None:
    up, down = _rename("orders", "state", "status")
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 3
    assert "sa.Column('status', sa.String(length=20), nullable=True)" in _code(
        directives[0].upgrade_ops
    )
    contract = _code(directives[2].upgrade_ops)
    assert "ck_orders_status_not_null" in contract
    assert "server_default='new'" in contract  # the model's plain string default, quoted


@pytest.mark.parametrize(
    ("table", "old", "new", "why"),
    [
        ("pairs", "name", "label", "no single-column integer primary key"),
        ("orders", "key", "id", "it is the primary key"),
        ("tickets", "count", "counter", "its default belongs to it"),
    ],
)
def test_renames_that_cannot_be_synced_get_a_todo(table: str, old: str, new: str, why: str) -> None:
    up, down = _rename(table, old, new, existing_type=sa.Integer())
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    code = _code(directives[0].upgrade_ops)
    assert f"# TODO(alembic-safety): renaming {table}.{old} to {new} breaks running code" in code
    assert why in code
    assert code.index("TODO") < code.index(f"new_column_name='{new}'")  # the op is kept


def test_rename_with_other_changes_and_disabled_renames_stay_as_generated() -> None:
    both = ops.AlterColumnOp(
        "orders", "state", modify_name="status", modify_nullable=True, existing_type=sa.Text()
    )
    directives = [_script([ops.ModifyTableOps("orders", [both])])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    assert "new_column_name='status'" in _code(directives[0].upgrade_ops)
    for settings in (RewriteSettings(rewrites=frozenset({"drop"})), RewriteSettings(phases=False)):
        up, down = _state_to_status()
        directives = [_script([up, ops.RenameTableOp("customers", "clients")], [down])]
        process_revision_directives(_context(), None, directives, settings)
        assert len(directives) == 1
        code = _code(directives[0].upgrade_ops)
        assert "new_column_name='status'" in code
        assert "op.rename_table('customers', 'clients')" in code
        assert "VIEW" not in code


def test_rename_of_a_table_created_in_the_same_revision_is_left_alone() -> None:
    create = ops.CreateTableOp("drafts", [sa.Column("id", sa.Integer, primary_key=True)])
    rename = ops.RenameTableOp("drafts", "notes")
    directives = [_script([create, rename], [ops.DropTableOp("notes")])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 1
    assert "VIEW" not in _code(directives[0].upgrade_ops)


# -- tables ------------------------------------------------------------------------------------


def test_table_rename_keeps_a_view_under_the_old_name_until_the_contract() -> None:
    up = ops.RenameTableOp("customers", "clients", schema="crm")
    down = ops.RenameTableOp("clients", "customers", schema="crm")
    directives = [_script([up], [down])]
    process_revision_directives(_context(), None, directives)
    expand, contract = directives
    assert contract.head == expand.rev_id
    code = _code(expand.upgrade_ops)
    _in_order(
        code,
        SET_LOCK,
        "# customers stays usable as an updatable view until the contract step. Sequences,",
        "op.rename_table('customers', 'clients', schema='crm')",
        "op.execute('CREATE VIEW crm.customers AS SELECT * FROM crm.clients')",
    )
    assert "does not follow later changes" in code
    _in_order(
        _code(expand.downgrade_ops),
        SET_LOCK,
        "op.execute('DROP VIEW crm.customers')",
        "op.rename_table('clients', 'customers', schema='crm')",
    )
    # The linter sees the view: the rename is not reported as breaking (AS202).
    assert "AS202" not in str(expand.message)
    assert "Phase: expand" in str(expand.message)

    assert "op.execute('DROP VIEW crm.customers')" in _code(contract.upgrade_ops)
    back = _code(contract.downgrade_ops)
    assert "op.execute('CREATE VIEW crm.customers AS SELECT * FROM crm.clients')" in back
    header = str(contract.message)
    assert "Phase: contract" in header
    assert (
        "Escalation: needs the application to stop using customers first; deploy after that release"
    ) in header


def test_views_are_dropped_before_renamed_columns_in_one_contract() -> None:
    up, down = _state_to_status()
    table_up = ops.RenameTableOp("customers", "clients")
    table_down = ops.RenameTableOp("clients", "customers")
    directives = [_script([up, table_up], [table_down, down])]
    process_revision_directives(_context(), None, directives)
    assert len(directives) == 3
    contract = directives[2]
    _in_order(
        _code(contract.upgrade_ops),
        "IS DISTINCT FROM state) THEN RAISE",  # checks first: a failure leaves all as it was
        "DROP VIEW customers",
        "drop_column('orders', 'state')",
    )
    _in_order(_code(contract.downgrade_ops), "add_column('orders'", "CREATE VIEW customers")
    assert str(contract.message).count("Escalation:") == 2


# -- settings ----------------------------------------------------------------------------------


def test_rename_is_a_rewrite_both_settings_loaders_accept() -> None:
    assert RewriteSettings().enabled("rename")
    assert RewriteSettings.from_mapping({"rewrites": "rename, drop"}).rewrites == {"rename", "drop"}
    assert "rename" in Settings().rewrites
    merged = Settings().merged({"rewrites": ["rename"]}, "pyproject.toml", strict_keys=True)
    assert merged.rewrites == ("rename",)
    with pytest.raises(UsageError, match="renames"):
        Settings().merged({"rewrites": ["renames"]}, "pyproject.toml", strict_keys=True)


# -- end to end: real files, real PostgreSQL ---------------------------------------------------

MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("state", sa.String(20), nullable=False, server_default="new"),
                  sa.Column("total", sa.Integer))
customers = sa.Table("customers", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(50)))
"""

MODELS_V2 = """
import sqlalchemy as sa

metadata = sa.MetaData()
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("status", sa.String(20), nullable=False, server_default="new"),
                  sa.Column("total", sa.Integer))
clients = sa.Table("clients", metadata, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("name", sa.String(50)))
"""

#: The user's own hook: renames declared by hand, turned from autogenerate's drop + add.
ENV_PY = """
from alembic import context
from alembic.operations import ops
from sqlalchemy import engine_from_config, pool

import alembic_safety.rewrite
import models

COLUMN_RENAMES = {("orders", "state"): "status"}
TABLE_RENAMES = {"customers": "clients"}


def _rename_columns(container, forward):
    for group in container.ops:
        if not isinstance(group, ops.ModifyTableOps):
            continue
        for (table, old), new in COLUMN_RENAMES.items():
            source, target = (old, new) if forward else (new, old)
            drop = next((o for o in group.ops if isinstance(o, ops.DropColumnOp)
                         and group.table_name == table and o.column_name == source), None)
            add = next((o for o in group.ops if isinstance(o, ops.AddColumnOp)
                        and group.table_name == table and o.column.name == target), None)
            if drop is None or add is None:
                continue
            rename = ops.AlterColumnOp(
                table, source, modify_name=target, existing_type=add.column.type,
                existing_nullable=add.column.nullable,
                existing_server_default=add.column.server_default,
            )
            group.ops = [rename if o is drop else o for o in group.ops if o is not add]


def _rename_tables(container, forward):
    for old, new in TABLE_RENAMES.items():
        source, target = (old, new) if forward else (new, old)
        drop = next((o for o in container.ops if isinstance(o, ops.DropTableOp)
                     and o.table_name == source), None)
        create = next((o for o in container.ops if isinstance(o, ops.CreateTableOp)
                       and o.table_name == target), None)
        if drop is None or create is None:
            continue
        rename = ops.RenameTableOp(source, target)
        container.ops = [rename if o is drop else o for o in container.ops if o is not create]


def declared_renames(context, revision, directives):
    script = directives[0]
    for container, forward in ((script.upgrade_ops, True), (script.downgrade_ops, False)):
        _rename_columns(container, forward)
        _rename_tables(container, forward)


config = context.config
with engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        transaction_per_migration=True,
        process_revision_directives=alembic_safety.rewrite.compose(declared_renames),
    )
    with context.begin_transaction():
        context.run_migrations()
"""

INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}

[alembic_safety]
backfill_batch_size = 3
rewrite_lock_timeout = 1s
"""

#: Sparse keys: the 3-wide keyset ranges include empty ones.
ORDERS = [(1, "new", 10), (2, "paid", None), (3, "paid", 5), (7, "shipped", 1), (20, "new", 0)]
CUSTOMERS = [(1, "Ada"), (2, "Grace")]


def _project(root: Path, url: str) -> None:
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, migrations / "script.py.mako")
    (migrations / "env.py").write_text(ENV_PY)
    (root / "models.py").write_text(MODELS_V1)
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    (root / "alembic.ini").write_text(INI.format(url=sa_url))


def _columns(conn: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Columns of the schema's tables: name, type, length, nullability, default (by name)."""
    return conn.execute(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default FROM information_schema.columns c JOIN pg_class r "
        "ON r.relname = c.table_name AND r.relnamespace = c.table_schema::regnamespace "
        "WHERE table_schema = %s AND r.relkind = 'r' AND table_name <> 'alembic_version' "
        "ORDER BY 1, 2",
        (schema,),
    ).fetchall()


def _schema(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """What a step may change in public: columns, views, triggers, functions, constraints."""
    return {
        "columns": _columns(conn, "public"),
        "views": conn.execute(
            "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall(),
        "triggers": conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY 1, 2"
        ).fetchall(),
        "functions": conn.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT conrelid::regclass::text, conname, contype, convalidated FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        ).fetchall(),
    }


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return _schema(conn)


def _rows(url: str, table: str, column: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT id, {column} FROM {table} ORDER BY id").fetchall()


def _write_through_both_names(url: str) -> None:
    """Old and new application code at once, from a connection of their own."""
    with psycopg.connect(url, autocommit=True) as conn:
        # Old code: the old column name.
        conn.execute("INSERT INTO orders (id, state, total) VALUES (100, 'paid', 1)")
        conn.execute("INSERT INTO orders (id, total) VALUES (102, 3)")  # the default
        conn.execute("UPDATE orders SET state = 'lost' WHERE id = 2")
        # New code: the new column name.
        conn.execute("INSERT INTO orders (id, status, total) VALUES (101, 'shipped', 2)")
        conn.execute("UPDATE orders SET status = 'refunded' WHERE id = 3")
        # An update touching neither fills a row the backfill has not reached yet.
        conn.execute("UPDATE orders SET total = 11 WHERE id = 1")
        both = conn.execute(
            "SELECT id, state, status FROM orders WHERE id IN (1, 2, 3, 100, 101, 102) ORDER BY id"
        ).fetchall()
        assert both == [
            (1, "new", "new"),
            (2, "lost", "lost"),
            (3, "refunded", "refunded"),
            (100, "paid", "paid"),
            (101, "shipped", "shipped"),
            (102, "new", "new"),
        ]
        untouched = conn.execute("SELECT state, status FROM orders WHERE id = 7").fetchone()
        assert untouched == ("shipped", None)  # the migrate step fills it

        # Old code through the view under the old table name: reads, writes, the id sequence.
        (new_id,) = conn.execute(
            "INSERT INTO customers (name) VALUES ('Edsger') RETURNING id"
        ).fetchone() or (None,)
        conn.execute("UPDATE customers SET name = 'Barbara' WHERE id = 2")
        conn.execute("DELETE FROM customers WHERE id = 1")
        # New code: the new name; the old one sees it.
        conn.execute("INSERT INTO clients (id, name) VALUES (50, 'Alan')")
        assert conn.execute("SELECT id, name FROM clients ORDER BY id").fetchall() == [
            (2, "Barbara"),
            (new_id, "Edsger"),
            (50, "Alan"),
        ]
        assert conn.execute("SELECT count(*) FROM customers WHERE id = 50").fetchone() == (1,)


def test_autogenerated_renames_expand_migrate_contract_end_to_end(
    tmp_path: Path, scratch_url: str
) -> None:
    root = tmp_path / "proj"
    _project(root, scratch_url)
    versions = root / "migrations" / "versions"
    _alembic(root, "revision", "--autogenerate", "-m", "initial")
    (initial_path,) = versions.glob("*.py")
    initial, _ = _identifiers(initial_path)
    _alembic(root, "upgrade", "head")
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO orders VALUES (%s, %s, %s)", ORDERS)
            cursor.executemany("INSERT INTO customers VALUES (%s, %s)", CUSTOMERS)
        conn.execute("SELECT setval('customers_id_seq', 2)")
        # The reference: the same tables renamed the plain (breaking) way, in a schema aside.
        conn.execute("CREATE SCHEMA plain")
        conn.execute("CREATE TABLE plain.orders (LIKE public.orders INCLUDING ALL)")
        conn.execute("CREATE TABLE plain.customers (LIKE public.customers INCLUDING ALL)")
        conn.execute("ALTER TABLE plain.orders RENAME COLUMN state TO status")
        conn.execute("ALTER TABLE plain.customers RENAME TO clients")
        (relfilenode,) = conn.execute(
            "SELECT relfilenode FROM pg_class WHERE oid = 'orders'::regclass"
        ).fetchone() or (None,)

    (root / "models.py").write_text(MODELS_V2)
    _alembic(root, "revision", "--autogenerate", "-m", "rename state and customers")
    chain = _chain(versions, initial)
    ids = [_identifiers(p)[0] for p in chain]
    assert [p.name for p in chain] == [
        f"{ids[0]}_rename_state_and_customers.py",
        f"{ids[1]}_rename_state_and_customers_migrate.py",
        f"{ids[2]}_rename_state_and_customers_contract.py",
    ]
    expand, migrate, contract = texts = [p.read_text() for p in chain]
    assert "import alembic_safety" not in "".join(texts)  # plain Alembic files
    for text, phase in zip(texts, ["expand", "migrate", "contract"], strict=True):
        assert f"Phase: {phase}\n" in text
    assert "new_column_name" not in expand
    assert "op.add_column('orders', sa.Column('status'" in expand
    assert "CREATE TRIGGER orders_status_rename_sync" in expand
    assert "op.rename_table('customers', 'clients')" in expand
    assert "op.execute(\"SET lock_timeout = '1s'\")" in expand
    assert "CREATE VIEW customers AS SELECT * FROM clients" in expand
    assert "UPDATE orders SET status = state WHERE id > :last" in migrate
    assert "op.execute('DROP VIEW customers')" in contract
    assert "op.drop_column('orders', 'state')" in contract
    assert "Escalation: needs the application to stop using customers first" in contract
    assert "Escalation: needs the application to read and write orders.status only" in contract

    # The linter agrees with the headers; only the contract drops data (the old column).
    report = run_cli("check", "-c", root / "alembic.ini", "--format", "json", cwd=root)
    assert report.returncode in (0, 1), report.stdout + report.stderr
    revisions = {entry["revision"]: entry for entry in json.loads(report.stdout)["revisions"]}
    for text, rev in zip(texts, ids, strict=True):
        assert f"Risk Level: {revisions[rev]['risk']}\n" in text, revisions[rev]
    findings = {rev: revisions[rev]["findings"] for rev in ids}
    codes = {rev: {f["code"] for f in findings[rev] if not f["suppressed"]} for rev in ids}
    assert not codes[ids[0]] & {"AS201", "AS202"}  # no breaking rename left in the expand step
    # Renaming back in the downgrade is breaking for new code: the file says when it is fine.
    (back,) = [f for f in findings[ids[0]] if f["suppressed"]]
    assert (back["code"], back["direction"]) == ("AS202", "downgrade")
    assert back["suppression_reason"].startswith("run once the application is rolled back")
    assert revisions[ids[0]]["risk"] == "LOW"
    assert revisions[ids[2]]["risk"] == "HIGH"
    assert "AS301" in codes[ids[2]]

    before = _snapshot(scratch_url)
    # A long reader of the old table: the expand step gives up after lock_timeout, all of it
    # (the rename, the view and the new column are one transaction).
    with psycopg.connect(scratch_url) as reader:
        reader.execute("SELECT count(*) FROM customers").fetchone()
        blocked = run_alembic("upgrade", ids[0], cwd=root)
        assert blocked.returncode != 0
        assert "lock timeout" in blocked.stdout + blocked.stderr
    assert _snapshot(scratch_url) == before
    _alembic(root, "upgrade", ids[0])
    after_expand = _snapshot(scratch_url)
    _write_through_both_names(scratch_url)
    # Without the backfill (migrate skipped), the contract fails loudly and changes nothing.
    _alembic(root, "stamp", ids[1])
    refused = run_alembic("upgrade", ids[2], cwd=root)
    assert refused.returncode != 0
    assert (
        "orders.status differs from state in some rows: run the migrate revision (its backfill) "
        "first, then retry"
    ) in refused.stdout + refused.stderr
    assert _snapshot(scratch_url) == after_expand
    _alembic(root, "stamp", ids[0])
    _alembic(root, "upgrade", ids[1])
    after_migrate = _snapshot(scratch_url)
    assert after_migrate == after_expand
    with psycopg.connect(scratch_url) as conn:
        left = conn.execute("SELECT count(*) FROM orders WHERE status IS DISTINCT FROM state")
        assert left.fetchone() == (0,)
    expected = _rows(scratch_url, "orders", "state")
    _alembic(root, "upgrade", ids[2])

    with psycopg.connect(scratch_url) as conn:
        final = _schema(conn)
        renamed = [row[1:] for row in _columns(conn, "public")]
        plain = [row[1:] for row in _columns(conn, "plain")]
        assert sorted(renamed) == sorted(plain)  # as if renamed the plain way
        assert final["views"] == final["triggers"] == final["functions"] == []
        # No CHECK left behind; the primary key keeps its name, as with a plain rename.
        assert [c[1] for c in final["constraints"]] == [
            "alembic_version_pkc",
            "customers_pkey",
            "orders_pkey",
        ]
        (unchanged,) = conn.execute(
            "SELECT relfilenode FROM pg_class WHERE oid = 'orders'::regclass"
        ).fetchone() or (None,)
        assert unchanged == relfilenode  # no step rewrote the table
    assert _rows(scratch_url, "orders", "status") == expected
    statuses = ["new", "lost", "refunded", "shipped", "new", "paid", "shipped", "new"]
    assert [row[1] for row in expected] == statuses
    _alembic(root, "check")  # the database matches the models

    # Each downgrade restores the schema before its upgrade; the data comes back too.
    _alembic(root, "downgrade", ids[1])
    assert _snapshot(scratch_url) == after_migrate
    assert _rows(scratch_url, "orders", "state") == expected
    _alembic(root, "downgrade", ids[0])
    assert _snapshot(scratch_url) == after_expand
    _alembic(root, "downgrade", initial)
    assert _snapshot(scratch_url) == before
    assert _rows(scratch_url, "orders", "state") == expected
    assert _rows(scratch_url, "customers", "name") == [
        (2, "Barbara"),
        (3, "Edsger"),
        (50, "Alan"),
    ]
    _alembic(root, "upgrade", "head")
    assert _snapshot(scratch_url) == final
    assert _rows(scratch_url, "orders", "status") == expected
