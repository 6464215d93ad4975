"""The risk header's duration, rollback and deploy-order lines, sized on a real server."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from psycopg import sql

from alembic_safety.rewrite import AutocommitBlockOp, BackfillOp, process_revision_directives
from alembic_safety.rewrite.duration import (
    describe_duration,
    read_row_estimates,
    size_bound_tables,
)
from alembic_safety.rewrite.header import RevisionHeader, assess_script, build_header
from alembic_safety.risk import Risk

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _script(upgrade: list[ops.MigrateOperation]) -> ops.MigrationScript:
    return ops.MigrationScript(
        rev_id="bbbb00000001",
        message="change",
        upgrade_ops=ops.UpgradeOps(upgrade),
        downgrade_ops=ops.DowngradeOps([]),
    )


def test_steps_that_grow_with_rows_name_their_tables_in_order() -> None:
    script = _script(
        [
            ops.AddColumnOp("orders", sa.Column("note", sa.Text())),  # catalog only
            ops.CreateIndexOp("ix_items_sku", "items", ["sku"], postgresql_concurrently=True),
            ops.ExecuteSQLOp('ALTER TABLE "sales"."orders" VALIDATE CONSTRAINT ck_x'),
            BackfillOp('"items"', '"id"', '"sku_new"', '"sku"', 1000),
            ops.CreateForeignKeyOp(
                "fk_a", "audit", "users", ["user_id"], ["id"], postgresql_not_valid=True
            ),
            ops.CreateTableOp("fresh", [sa.Column("id", sa.Integer, primary_key=True)]),
            ops.CreateIndexOp("ix_fresh", "fresh", ["id"]),
        ]
    )
    # NOT VALID is catalog-only; a table created by the revision is empty while it runs
    assert size_bound_tables(script) == ["items", "orders"]
    assert describe_duration([], {}).startswith("under a second")
    assert describe_duration(["items", "orders"], {"items": 1200}) == (
        "grows with the rows of items (~1,200 rows here), orders; "
        "measure it with alembic-safety dry-run"
    )


@pytest.mark.parametrize(
    ("phase", "escalations", "rollback", "loses_data", "expected"),
    [
        ("expand", (), True, False, ("included", "before the application change")),
        ("migrate", (), False, False, ("none (nothing to undo)", "after the previous revision")),
        (
            "contract",
            ("needs the application to stop using orders.legacy first",),
            True,
            True,
            ("included (schema only: the dropped data", "on its own, after the application"),
        ),
    ],
)
def test_rollback_and_deploy_order_follow_the_phase(
    phase: str, escalations: tuple[str, ...], rollback: bool, loses_data: bool, expected: tuple
) -> None:
    header = RevisionHeader(
        revision="r1",
        description="d",
        risk=Risk.LOW,
        phase=phase,  # type: ignore[arg-type]
        rollback=rollback,
        escalations=escalations,
        loses_data=loses_data,
    ).render()
    assert f"Rollback: {expected[0]}" in header
    assert f"Deploy Order: {expected[1]}" in header


def test_a_contract_that_drops_a_column_says_its_data_does_not_come_back() -> None:
    script = ops.MigrationScript(
        rev_id="cccc00000001",
        message="drop legacy",
        upgrade_ops=ops.UpgradeOps(
            [ops.ModifyTableOps("orders", [ops.DropColumnOp("orders", "legacy")])]
        ),
        downgrade_ops=ops.DowngradeOps(
            [
                ops.ModifyTableOps(
                    "orders", [ops.AddColumnOp("orders", sa.Column("legacy", sa.Text))]
                )
            ]
        ),
    )
    process_revision_directives(
        MigrationContext.configure(dialect_name="postgresql"), None, [script]
    )
    text = str(script.message)
    assert "Phase: contract\n" in text
    assert "Rollback: included (schema only: the dropped data is not restored)\n" in text


@pytest.fixture
def analysed_database() -> Iterator[str]:
    name = f"as_header_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=2)
    except psycopg.Error:
        pytest.skip("PostgreSQL service not reachable")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = SERVER.rsplit("/", 1)[0] + f"/{name}"
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total int)")
                conn.execute("INSERT INTO orders SELECT g, g FROM generate_series(1, 4321) g")
                conn.execute("CREATE TABLE never_analysed (id int)")
                conn.execute("INSERT INTO never_analysed VALUES (1)")
                conn.execute("ANALYZE orders")
            yield url
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_row_estimates_come_from_the_autogenerate_connection(analysed_database: str) -> None:
    engine = sa.create_engine(analysed_database.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection, connection.begin():
            estimates = read_row_estimates(connection, ["orders", "never_analysed", "missing"])
            # a failed statement inside the savepoint must not poison autogenerate's transaction
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    # reltuples is exact right after ANALYZE; a never-analysed table is unknown (-1), not 0
    assert estimates == {"orders": 4321}


def test_row_estimates_never_fail_autogenerate() -> None:
    assert read_row_estimates(None, ["orders"]) == {}
    sqlite = sa.create_engine("sqlite://")
    with sqlite.connect() as connection:
        assert read_row_estimates(connection, ["orders"]) == {}


def test_an_added_columns_index_flag_is_not_a_finding_since_alembic_never_renders_it() -> None:
    """Autogenerate's add_column carries the model Column (``index=True`` included); the file
    has the index as its own, concurrent, op. The header judges what the file says."""
    column = sa.Column("category_id", sa.Integer, index=True, unique=False)
    index = ops.CreateIndexOp("ix_products_category_id", "products", ["category_id"])
    script = _script([ops.ModifyTableOps("products", [ops.AddColumnOp("products", column), index])])
    process_revision_directives(
        MigrationContext.configure(dialect_name="postgresql"), None, [script]
    )
    text = str(script.message)
    assert "Risk Level: LOW\n" in text
    assert "AS106" not in text
    assert column.index is True  # the model's Column is not touched


def test_a_session_lock_timeout_covers_later_autocommit_blocks() -> None:
    trigger = ops.ExecuteSQLOp(
        "CREATE TRIGGER orders_sync BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f()"
    )
    with_timeout = ops.UpgradeOps(
        [ops.ExecuteSQLOp("SET lock_timeout = '5s'"), AutocommitBlockOp([trigger])]
    )
    without = ops.UpgradeOps([AutocommitBlockOp([trigger])])
    assert "AS121" not in {f.code for f in assess_script(with_timeout)}
    assert "AS121" in {f.code for f in assess_script(without)}


def test_a_drop_whose_downgrade_refills_the_column_keeps_its_data() -> None:
    refill = BackfillOp('"orders"', '"id"', '"code"', 'CAST("sku" AS TEXT)', 1000)
    script = ops.MigrationScript(
        rev_id="dddd00000001",
        message="contract",
        upgrade_ops=ops.UpgradeOps([ops.DropColumnOp("orders", "code")]),
        downgrade_ops=ops.DowngradeOps(
            [ops.AddColumnOp("orders", sa.Column("code", sa.Text)), AutocommitBlockOp([refill])]
        ),
    )
    assert "Rollback: included\n" in build_header(script, "contract", "contract")


def test_validation_blocks_and_copies_count_as_scans() -> None:
    from alembic_safety.rewrite.custom_ops import AssertNoNullsOp
    from alembic_safety.rewrite.shadow_table import CopyRowsOp

    script = _script(
        [
            AssertNoNullsOp('"users"', '"email"'),
            CopyRowsOp('"items"', '"items_new"', '"id"', 1000),
            # the shadow-table swap counts both tables under its lock
            ops.ExecuteSQLOp(
                "DO $$ DECLARE live bigint; copy bigint; BEGIN "
                'SELECT count(*) INTO live FROM "orders"; '
                'SELECT count(*) INTO copy FROM "orders_new"; END $$'
            ),
        ]
    )
    assert size_bound_tables(script) == ["users", "items", "orders", "orders_new"]
