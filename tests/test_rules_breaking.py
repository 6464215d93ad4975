"""Breaking-change (AS203-AS206) and transaction (AS402-AS406) rules, case by case.

Each rule gets its dangerous forms (Alembic op objects, raw SQL, revision files run through the
recorder) and their safe counterparts; AS403 its version gate; the revision-level rules AS405
and AS406 their one-finding-per-revision contract; AS205 and AS206 real throw-away Alembic
projects whose env.py hands its ``target_metadata`` to the linter (and projects without models,
where both stay silent). The PostgreSQL facts the rules rest on are proved on the server at the
end: what each operation locks (the AS405/AS406 helper), which type changes make a migration
fail on values that do not fit (AS204), that a dropped default makes inserts fail (AS203), and
that a new enum value cannot be used before it is committed (AS404).
"""

from __future__ import annotations

import inspect
import io
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from conftest import (
    MakeProject,
    Project,
    findings_of,
    ini_text,
    line_of,
    run_cli,
    run_main,
    write_revision,
    write_scaffold,
)
from pgfacts import observe, scratch_database, strongest
from sqlalchemy.dialects import postgresql

from alembic_safety.analysis.recorder import OpRecord, table_of
from alembic_safety.analysis.sql import parse
from alembic_safety.engine import Analyzer
from alembic_safety.risk import Finding, RevisionReport, Risk, assess_operations, assess_sql
from alembic_safety.risk import assess_revision as _assess_revision
from alembic_safety.rules import registry
from alembic_safety.rules.narrowing_type import narrowing
from alembic_safety.rules.several_tables_locked import table_locks

OpsFactory = Callable[[], list[ops.MigrateOperation]]
Source = OpsFactory | str

PG_URL = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESET = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"


def run(source: Source, **kwargs: Any) -> list[Finding]:
    if isinstance(source, str):
        return assess_sql(source, **kwargs)
    return assess_operations(source(), **kwargs)


def codes(findings: Sequence[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def only(findings: Sequence[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, [(f.code, f.message) for f in findings]
    return matching[0]


def assert_help_is_code(help_text: str) -> None:
    """The help compiles, and every ``sa.X`` / ``postgresql.X`` it uses exists."""
    compile(help_text, "<help>", "exec")
    for name in re.findall(r"\bsa\.(\w+)", help_text):
        assert hasattr(sa, name), f"sa.{name} does not exist: {help_text}"
    for name in re.findall(r"\bpostgresql\.(\w+)", help_text):
        assert hasattr(postgresql, name), f"postgresql.{name} does not exist: {help_text}"


def revision(
    tmp_path: Path, upgrade: str, downgrade: str = "pass", rev: str = "a1b2c3d4e5f6"
) -> Path:
    return write_revision(tmp_path / "versions", rev, None, upgrade, downgrade)


def assess_revision(path: Path, **kwargs: Any) -> RevisionReport:
    report = _assess_revision(path, **kwargs)
    assert report.error is None, report.error
    return report


def of(report: RevisionReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


# -- operation and SQL cases -----------------------------------------------------------------


def alter(**kwargs: Any) -> OpsFactory:
    table = kwargs.pop("table", "orders")
    column = kwargs.pop("column", "status")
    return lambda: [ops.AlterColumnOp(table, column, **kwargs)]


def flagged(
    case_id: str, code: str, source: Source, table: str | None, *names: str, **kw: Any
) -> Any:
    return pytest.param(code, source, table, names, kw, id=case_id)


DANGEROUS = [
    # AS203 drop-default
    flagged(
        "AS203-op-server-default-none",
        "AS203",
        alter(modify_server_default=None, existing_nullable=False),
        "orders",
        'op.alter_column("orders", "status", server_default=None)',
        "(NOT NULL)",
    ),
    flagged(
        "AS203-op-nullable-column-writes-null",
        "AS203",
        alter(modify_server_default=None, existing_nullable=True),
        "orders",
        "writes NULL",
    ),
    flagged(
        "AS203-op-schema",
        "AS203",
        alter(modify_server_default=None, schema="shop"),
        "orders",
        'op.alter_column("orders", "status", server_default=None, schema="shop")',
    ),
    flagged(
        "AS203-sql-drop-default",
        "AS203",
        "ALTER TABLE orders ALTER COLUMN status DROP DEFAULT",
        "orders",
        '"orders", "status"',
    ),
    flagged(
        "AS203-sql-set-default-null",
        "AS203",
        "ALTER TABLE orders ALTER COLUMN status SET DEFAULT NULL",
        "orders",
        '"orders", "status"',
    ),
    # AS204 narrowing-type (with AS105 for the rewrite)
    flagged(
        "AS204-varchar64-to-varchar20",
        "AS204",
        alter(
            table="products", column="sku", existing_type=sa.String(64), modify_type=sa.String(20)
        ),
        "products",
        '"char_length(sku) <= 20"',
        "ck_products_sku_fits",
        also=("AS105",),
    ),
    flagged(
        "AS204-text-to-varchar",
        "AS204",
        alter(table="products", column="sku", existing_type=sa.Text(), modify_type=sa.String(20)),
        "products",
        "char_length(sku) <= 20",
        also=("AS105",),
    ),
    flagged(
        "AS204-unbounded-varchar-to-varchar",
        "AS204",
        alter(table="products", column="sku", existing_type=sa.String(), modify_type=sa.String(8)),
        "products",
        "char_length(sku) <= 8",
        also=("AS105",),
    ),
    flagged(
        "AS204-bigint-to-integer",
        "AS204",
        alter(
            table="order_items",
            column="quantity",
            existing_type=sa.BigInteger(),
            modify_type=sa.Integer(),
        ),
        "order_items",
        "quantity BETWEEN -2147483648 AND 2147483647",
        also=("AS105",),
    ),
    flagged(
        "AS204-integer-to-smallint",
        "AS204",
        alter(
            table="order_items",
            column="quantity",
            existing_type=sa.Integer(),
            modify_type=sa.SmallInteger(),
        ),
        "order_items",
        "quantity BETWEEN -32768 AND 32767",
        also=("AS105",),
    ),
    flagged(
        "AS204-numeric-precision-decrease",
        "AS204",
        alter(
            table="orders",
            column="total",
            existing_type=sa.Numeric(12, 2),
            modify_type=sa.Numeric(10, 2),
        ),
        "orders",
        "abs(round(total, 2)) < 1e8",
        also=("AS105",),
    ),
    flagged(
        "AS204-numeric-scale-decrease",
        "AS204",
        alter(
            table="orders",
            column="total",
            existing_type=sa.Numeric(12, 4),
            modify_type=sa.Numeric(12, 2),
        ),
        "orders",
        "total = round(total, 2)",
        also=("AS105",),
    ),
    flagged(
        "AS204-numeric-more-scale-fewer-integer-digits",
        "AS204",
        alter(
            table="orders",
            column="total",
            existing_type=sa.Numeric(10, 2),
            modify_type=sa.Numeric(10, 4),
        ),
        "orders",
        "abs(round(total, 4)) < 1e6",
        also=("AS105",),
    ),
    flagged(
        "AS204-schema",
        "AS204",
        alter(
            table="products",
            column="sku",
            schema="shop",
            existing_type=sa.String(64),
            modify_type=sa.String(20),
        ),
        "products",
        'postgresql_not_valid=True, schema="shop")',
        also=("AS105",),
    ),
    # AS402 validate-in-same-transaction
    flagged(
        "AS402-sql-check",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_total CHECK (total >= 0) NOT VALID; "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_total",
        "orders",
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_total",
        "autocommit_block()",
    ),
    flagged(
        "AS402-op-foreign-key",
        "AS402",
        lambda: [
            ops.CreateForeignKeyOp(
                "fk_orders_user_id",
                "orders",
                "users",
                ["user_id"],
                ["id"],
                postgresql_not_valid=True,
            ),
            ops.ExecuteSQLOp("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id"),
        ],
        "orders",
        "ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id",
    ),
    flagged(
        "AS402-op-check",
        "AS402",
        lambda: [
            ops.CreateCheckConstraintOp(
                "ck_total", "orders", "total >= 0", postgresql_not_valid=True
            ),
            ops.ExecuteSQLOp("ALTER TABLE orders VALIDATE CONSTRAINT ck_total"),
        ],
        "orders",
        "VALIDATE CONSTRAINT ck_total",
    ),
    # AS403 enum-add-value-in-transaction (PostgreSQL < 12 only)
    flagged(
        "AS403-sql-pg11",
        "AS403",
        "ALTER TYPE order_status ADD VALUE 'refunded'",
        None,
        "ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'",
        "autocommit_block()",
        target_version=11,
    ),
    flagged(
        "AS403-sql-pg10-after-begin",
        "AS403",
        "COMMIT; BEGIN; ALTER TYPE order_status ADD VALUE 'refunded'",
        None,
        "order_status",
        target_version=10,
    ),
    # AS404 new-enum-value-used-in-same-transaction
    flagged(
        "AS404-sql-update",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL",
        "orders",
        "ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'",
    ),
    flagged(
        "AS404-sql-insert",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "INSERT INTO order_events (status) VALUES ('refunded')",
        "order_events",
        "order_status",
    ),
    flagged(
        "AS404-sql-where-comparison",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "UPDATE orders SET note = 'x' WHERE status = 'refunded'",
        "orders",
        "order_status",
    ),
    flagged(
        "AS404-bulk-insert",
        "AS404",
        lambda: [
            ops.ExecuteSQLOp("ALTER TYPE order_status ADD VALUE 'refunded'"),
            ops.BulkInsertOp(
                sa.table("order_events", sa.column("status")), [{"status": "refunded"}]
            ),
        ],
        "order_events",
        "order_status",
    ),
    flagged(
        "AS404-add-column-server-default",
        "AS404",
        lambda: [
            ops.ExecuteSQLOp("ALTER TYPE order_status ADD VALUE 'refunded'"),
            ops.AddColumnOp(
                "orders",
                sa.Column(
                    "last_status", sa.Text(), server_default=sa.text("'refunded'::order_status")
                ),
            ),
        ],
        "orders",
        "order_status",
    ),
    flagged(
        "AS404-alter-column-server-default",
        "AS404",
        lambda: [
            ops.ExecuteSQLOp("ALTER TYPE order_status ADD VALUE 'refunded'"),
            ops.AlterColumnOp("orders", "status", modify_server_default="refunded"),
        ],
        "orders",
        "order_status",
    ),
    flagged(
        "AS404-sql-set-default",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'refunded'",
        "orders",
        "order_status",
    ),
    flagged(
        "AS404-new-table",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "INSERT INTO order_events (status) VALUES ('refunded')",
        "order_events",
        "order_status",
        new_tables=["order_events"],
    ),
]


@pytest.mark.parametrize(("code", "source", "table", "names", "kwargs"), DANGEROUS)
def test_dangerous(
    code: str, source: Source, table: str | None, names: tuple[str, ...], kwargs: dict[str, Any]
) -> None:
    also = kwargs.pop("also", ())
    findings = run(source, **kwargs)
    finding = only(findings, code)
    for other in also:
        assert other in codes(findings)
    rule = registry.get(code)
    assert rule is not None
    assert finding.name == rule.name
    assert finding.risk == rule.risk == Risk.MEDIUM
    assert finding.table == table
    assert finding.escalation == rule.escalation
    for name in names:
        assert name in finding.help + finding.message, f"{name!r} not in:\n{finding.help}"
    assert_help_is_code(finding.help)


def not_flagged(case_id: str, code: str, source: Source, **kw: Any) -> Any:
    return pytest.param(code, source, kw, id=case_id)


SAFE = [
    not_flagged("AS203-default-unchanged", "AS203", alter(modify_nullable=True)),
    not_flagged("AS203-set-default", "AS203", alter(modify_server_default="new")),
    not_flagged("AS203-sql-set-default", "AS203", "ALTER TABLE o ALTER COLUMN s SET DEFAULT 'x'"),
    not_flagged(
        "AS203-new-table",
        "AS203",
        "ALTER TABLE orders ALTER COLUMN status DROP DEFAULT",
        new_tables=["orders"],
    ),
    not_flagged(
        "AS204-widening-varchar",
        "AS204",
        alter(existing_type=sa.String(20), modify_type=sa.String(50)),
    ),
    not_flagged(
        "AS204-varchar-to-text", "AS204", alter(existing_type=sa.String(20), modify_type=sa.Text())
    ),
    not_flagged(
        "AS204-int-to-bigint",
        "AS204",
        alter(existing_type=sa.Integer(), modify_type=sa.BigInteger()),
    ),
    not_flagged(
        "AS204-numeric-widening",
        "AS204",
        alter(existing_type=sa.Numeric(10, 2), modify_type=sa.Numeric(12, 2)),
    ),
    not_flagged(
        "AS204-numeric-to-unbounded",
        "AS204",
        alter(existing_type=sa.Numeric(10, 2), modify_type=sa.Numeric()),
    ),
    not_flagged("AS204-unknown-existing-type", "AS204", alter(modify_type=sa.String(20))),
    not_flagged(
        "AS204-sql-has-no-existing-type", "AS204", "ALTER TABLE o ALTER COLUMN s TYPE varchar(5)"
    ),
    not_flagged(
        "AS204-new-table",
        "AS204",
        alter(existing_type=sa.String(64), modify_type=sa.String(20)),
        new_tables=["orders"],
    ),
    not_flagged(
        "AS402-validate-alone",
        "AS402",
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_total",
    ),
    not_flagged(
        "AS402-validated-add-then-validate",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_total CHECK (total >= 0); "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_total",
    ),
    not_flagged(
        "AS402-other-constraint",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_a CHECK (total >= 0) NOT VALID; "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_b",
    ),
    not_flagged(
        "AS402-other-table",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_a CHECK (total >= 0) NOT VALID; "
        "ALTER TABLE payments VALIDATE CONSTRAINT ck_a",
    ),
    not_flagged(
        "AS402-commit-between",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_a CHECK (total >= 0) NOT VALID; COMMIT; "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_a",
    ),
    not_flagged(
        "AS402-all-in-autocommit",
        "AS402",
        "ALTER TABLE orders ADD CONSTRAINT ck_a CHECK (total >= 0) NOT VALID; "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_a",
        autocommit=True,
    ),
    not_flagged(
        "AS403-pg12",
        "AS403",
        "ALTER TYPE order_status ADD VALUE 'refunded'",
        target_version=12,
    ),
    not_flagged(
        "AS403-pg15",
        "AS403",
        "ALTER TYPE order_status ADD VALUE 'refunded'",
    ),
    not_flagged(
        "AS403-pg11-autocommit",
        "AS403",
        "ALTER TYPE order_status ADD VALUE 'refunded'",
        target_version=11,
        autocommit=True,
    ),
    not_flagged(
        "AS403-pg11-after-commit",
        "AS403",
        "COMMIT; ALTER TYPE order_status ADD VALUE 'refunded'",
        target_version=11,
    ),
    not_flagged(
        "AS404-other-value",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "UPDATE orders SET status = 'paid' WHERE id = 1",
    ),
    not_flagged(
        "AS404-commit-between",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; COMMIT; "
        "UPDATE orders SET status = 'refunded' WHERE id = 1",
    ),
    not_flagged(
        "AS404-use-before-add",
        "AS404",
        "UPDATE orders SET status = 'refunded' WHERE id = 1; "
        "ALTER TYPE order_status ADD VALUE 'refunded'",
    ),
    not_flagged(
        "AS404-autocommit",
        "AS404",
        "ALTER TYPE order_status ADD VALUE 'refunded'; "
        "UPDATE orders SET status = 'refunded' WHERE id = 1",
        autocommit=True,
    ),
]


@pytest.mark.parametrize(("code", "source", "kwargs"), SAFE)
def test_safe(code: str, source: Source, kwargs: dict[str, Any]) -> None:
    assert code not in codes(run(source, **kwargs))


def test_as203_downgrade_of_a_column_the_upgrade_added_is_a_rollback(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.add_column("orders", sa.Column("note", sa.Text(), server_default="x"))',
        'op.alter_column("orders", "note", server_default=None)\n'
        'op.alter_column("orders", "status", server_default=None)',
    )
    report = assess_revision(path)
    [finding] = of(report, "AS203")
    assert finding.direction == "downgrade"
    assert finding.line == line_of(path, '"status", server_default=None')


def test_as204_is_reported_with_as105_in_a_downgrade_too(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.alter_column("items", "qty", existing_type=sa.Integer(), type_=sa.BigInteger())',
        'op.alter_column("items", "qty", existing_type=sa.BigInteger(), type_=sa.Integer())',
    )
    report = assess_revision(path)
    assert [(f.code, f.direction) for f in report.findings if f.code in ("AS105", "AS204")] == [
        ("AS105", "upgrade"),
        ("AS105", "downgrade"),
        ("AS204", "downgrade"),
    ]


def test_as204_sees_through_type_decorators() -> None:
    class Money(sa.types.TypeDecorator[Any]):
        impl = sa.Numeric(12, 2)
        cache_ok = True

    found = narrowing(Money(), sa.Numeric(8, 2))
    assert found is not None
    assert "6 integer digits" in found.reason
    assert narrowing(Money(), sa.Numeric(14, 2)) is None


# -- transactions in revision files (autocommit blocks, COMMIT, version gates) --------------


def test_as402_autocommit_block_separates_validate_from_add(tmp_path: Path) -> None:
    dangerous = revision(
        tmp_path,
        """
        op.create_foreign_key("fk_o_u", "orders", "users", ["user_id"], ["id"],
                              postgresql_not_valid=True)
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_o_u")
        """,
    )
    [finding] = of(assess_revision(dangerous), "AS402")
    assert finding.line == line_of(dangerous, "VALIDATE CONSTRAINT")
    assert 'SHARE ROW EXCLUSIVE locks of the foreign key on "orders" and "users"' in finding.message

    safe = revision(
        tmp_path,
        """
        op.create_foreign_key("fk_o_u", "orders", "users", ["user_id"], ["id"],
                              postgresql_not_valid=True)
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_o_u")
        """,
        rev="b1b2c3d4e5f6",
    )
    assert of(assess_revision(safe), "AS402") == []

    commit_hack = revision(
        tmp_path,
        """
        op.create_foreign_key("fk_o_u", "orders", "users", ["user_id"], ["id"],
                              postgresql_not_valid=True)
        op.execute("COMMIT")
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_o_u")
        """,
        rev="c1b2c3d4e5f6",
    )
    assert of(assess_revision(commit_hack), "AS402") == []


def test_as402_new_table_is_exempt(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True),
                        sa.Column("total", sa.Numeric()))
        op.create_check_constraint("ck_total", "orders", "total >= 0", postgresql_not_valid=True)
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_total")
        """,
    )
    assert of(assess_revision(path), "AS402") == []


@pytest.mark.parametrize(
    ("target", "in_block", "expected"),
    [
        pytest.param(11, False, True, id="pg11-in-transaction"),
        pytest.param(9, False, True, id="pg9-in-transaction"),
        pytest.param(11, True, False, id="pg11-autocommit-block"),
        pytest.param(12, False, False, id="pg12-in-transaction"),
        pytest.param(15, False, False, id="pg15-in-transaction"),
    ],
)
def test_as403_version_gate_and_autocommit(
    tmp_path: Path, target: int, in_block: bool, expected: bool
) -> None:
    statement = "op.execute(\"ALTER TYPE order_status ADD VALUE 'refunded'\")"
    body = f"with op.get_context().autocommit_block():\n    {statement}" if in_block else statement
    path = revision(tmp_path, body)
    found = of(assess_revision(path, target_version=target), "AS403")
    assert bool(found) is expected
    if expected:
        assert found[0].line == line_of(path, "ALTER TYPE")
        assert found[0].risk == Risk.MEDIUM


def test_as403_rule_is_declared_for_versions_up_to_11() -> None:
    rule = registry.get("AS403")
    assert rule is not None
    assert (rule.min_version, rule.max_version) == (None, 11)
    assert rule.applies_to_version(11)
    assert not rule.applies_to_version(12)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            """
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
            """,
            True,
            id="same-transaction",
        ),
        pytest.param(
            """
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            events = sa.table("order_events", sa.column("status"))
            op.bulk_insert(events, [{"status": "refunded"}])
            """,
            True,
            id="bulk-insert",
        ),
        pytest.param(
            """
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            op.get_bind().execute(sa.text("UPDATE orders SET status = 'refunded' WHERE id = 1"))
            """,
            True,
            id="bind-execute",
        ),
        pytest.param(
            """
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
            """,
            False,
            id="autocommit-block-first",
        ),
        pytest.param(
            """
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            op.execute("COMMIT")
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
            """,
            False,
            id="commit-between",
        ),
        pytest.param(
            """
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            op.get_bind().commit()
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
            """,
            False,
            id="bind-commit-between",
        ),
    ],
)
def test_as404_in_revisions(tmp_path: Path, body: str, expected: bool) -> None:
    path = revision(tmp_path, body)
    found = of(assess_revision(path), "AS404")
    assert bool(found) is expected, [(f.code, f.message) for f in found]
    if expected:
        assert "'refunded'" in found[0].message
        assert "order_status" in found[0].message


# -- AS405 several-tables-locked-in-one-transaction ---------------------------------------------


def test_as405_two_tables_one_finding_at_the_second(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
        op.create_index("ix_orders_note", "orders", ["note"])
        op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
        op.alter_column("payments", "amount", nullable=True)
        op.add_column("users", sa.Column("other", sa.Text(), nullable=True))
        """,
    )
    report = assess_revision(path)
    [finding] = of(report, "AS405")
    assert finding.line == line_of(path, 'op.add_column("users"')
    assert finding.table == "users"
    assert finding.risk == Risk.MEDIUM
    assert '"orders", "users", "payments"' in finding.message
    assert "3 existing tables" in finding.message
    assert '"users", "payments"' in finding.help
    assert_help_is_code(finding.help)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            """
            op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
            op.alter_column("orders", "status", nullable=True)
            op.create_index("ix_orders_note", "orders", ["note"])
            """,
            id="one-table",
        ),
        pytest.param(
            """
            op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))
            op.create_index("ix_events_id", "events", ["id"])
            op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
            """,
            id="new-table-does-not-count",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("user_id", sa.Integer(), nullable=True))
            op.create_foreign_key("fk_orders_user_id", "orders", "users", ["user_id"], ["id"],
                                  postgresql_not_valid=True)
            """,
            id="referenced-table-does-not-count",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
            with op.get_context().autocommit_block():
                op.create_index("ix_users_email", "users", ["email"],
                                postgresql_concurrently=True)
                op.alter_column("users", "email", nullable=True)
            """,
            id="autocommit-block",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
            op.execute("COMMIT")
            op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
            """,
            id="commit-between",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
            op.execute("UPDATE users SET name = lower(name) WHERE id < 100")
            op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_name")
            """,
            id="weak-locks-do-not-count",
        ),
    ],
)
def test_as405_not_reported(tmp_path: Path, body: str) -> None:
    assert of(assess_revision(revision(tmp_path, body)), "AS405") == []


def test_as405_sql_and_one_finding_for_several_transactions(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.execute("ALTER TABLE orders ADD COLUMN note text")
        op.execute("LOCK TABLE users IN SHARE MODE")
        op.execute("COMMIT")
        op.execute("BEGIN")
        op.execute("CREATE INDEX ix_a ON accounts (name)")
        op.execute("ALTER TABLE payments RENAME TO payments_old")
        """,
    )
    [finding] = of(assess_revision(path), "AS405")
    assert finding.line == line_of(path, "LOCK TABLE users")
    assert '"orders", "users"' in finding.message


def test_as405_downgrade_is_not_checked(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        "pass",
        """
        op.drop_column("orders", "note")
        op.drop_column("users", "note")
        """,
    )
    assert of(assess_revision(path), "AS405") == []


# -- AS406 missing-lock-timeout -------------------------------------------------------------------


def test_as406_one_low_finding_at_the_first_access_exclusive_op(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("events", sa.Column("note", sa.Text(), nullable=True))
        op.create_index("ix_orders_status", "orders", ["status"])
        op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
        op.alter_column("users", "name", nullable=True)
        op.execute("ALTER TABLE payments DROP COLUMN legacy")
        """,
    )
    report = assess_revision(path)
    [finding] = of(report, "AS406")
    assert finding.risk == Risk.LOW
    assert finding.direction == "upgrade"
    assert finding.line == line_of(path, 'op.add_column("orders"')
    assert finding.table == "orders"
    assert "and 2 more operations" in finding.message
    assert finding.help.startswith("op.execute(\"SET lock_timeout = '5s'\")")
    assert_help_is_code(finding.help)


def test_as406_alone_never_raises_a_revisions_risk(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.add_column("orders", sa.Column("note", sa.Text()))',
        'op.drop_column("orders", "note")',
    )
    report = assess_revision(path, select=["AS4"])
    assert codes(report.findings) == ["AS406"]
    assert report.risk == Risk.LOW


@pytest.mark.parametrize(
    ("body", "expected_at"),
    [
        pytest.param(
            """
            op.execute("SET lock_timeout = '5s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
            op.drop_column("users", "legacy")
            """,
            None,
            id="set-first",
        ),
        pytest.param(
            """
            op.execute(sa.text("SET lock_timeout TO '2s'"))
            op.add_column("orders", sa.Column("note", sa.Text()))
            """,
            None,
            id="set-as-text-clause",
        ),
        pytest.param(
            """
            op.execute("SET LOCAL lock_timeout = '5s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
            """,
            None,
            id="set-local",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("note", sa.Text()))
            op.execute("SET lock_timeout = '5s'")
            """,
            'op.add_column("orders"',
            id="set-too-late",
        ),
        pytest.param(
            """
            op.execute("SET lock_timeout = 0")
            op.add_column("orders", sa.Column("note", sa.Text()))
            """,
            'op.add_column("orders"',
            id="set-to-zero-disables",
        ),
        pytest.param(
            """
            op.execute("SET lock_timeout = '5s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
            op.execute("RESET lock_timeout")
            op.drop_column("users", "legacy")
            """,
            'op.drop_column("users"',
            id="reset-midway",
        ),
        pytest.param(
            """
            op.execute("SET LOCAL lock_timeout = '5s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
            with op.get_context().autocommit_block():
                op.execute("DROP INDEX CONCURRENTLY ix_users_name")
            op.drop_column("users", "legacy")
            """,
            'op.drop_column("users"',
            id="set-local-ends-with-the-transaction",
        ),
        pytest.param(
            """
            with op.get_context().autocommit_block():
                op.execute("SET lock_timeout = '5s'")
            op.drop_column("users", "legacy")
            """,
            None,
            id="session-set-survives-autocommit",
        ),
        pytest.param(
            """
            op.create_index("ix_orders_status", "orders", ["status"])
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total")
            op.execute("UPDATE orders SET status = 'x' WHERE id = 1")
            """,
            None,
            id="no-access-exclusive",
        ),
        pytest.param(
            """
            op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))
            op.add_column("events", sa.Column("note", sa.Text()))
            op.create_foreign_key("fk_e_o", "events", "orders", ["id"], ["id"])
            """,
            None,
            id="new-table-only",
        ),
    ],
)
def test_as406_cases(tmp_path: Path, body: str, expected_at: str | None) -> None:
    path = revision(tmp_path, body)
    found = of(assess_revision(path), "AS406")
    if expected_at is None:
        assert found == [], [f.message for f in found]
    else:
        [finding] = found
        assert finding.line == line_of(path, expected_at)


def test_as406_not_reported_when_the_runner_sets_the_timeout(tmp_path: Path) -> None:
    path = revision(tmp_path, 'op.add_column("orders", sa.Column("note", sa.Text()))')
    assert "AS406" in codes(Analyzer().assess_file(path).findings)
    assert "AS406" not in codes(Analyzer(lock_timeout_by_runner=True).assess_file(path).findings)


def test_as406_runner_setting_from_the_project_config(make_project: MakeProject) -> None:
    with_runner = make_project({"lock_timeout_by_runner": "true"}, subdir="runner")
    without = make_project(subdir="plain")
    for project in (with_runner, without):
        project.revision("a1", None, 'op.add_column("orders", sa.Column("note", sa.Text()))')
    assert "AS406" not in codes_in(with_runner, "a1")
    assert "AS406" in codes_in(without, "a1")


def test_as406_downgrade_is_not_checked(tmp_path: Path) -> None:
    path = revision(tmp_path, "pass", 'op.drop_column("orders", "note")')
    assert of(assess_revision(path), "AS406") == []


# -- AS205 / AS206: projects whose env.py hands over the models ---------------------------------

MODELS_ENV_PY = '''\
"""env.py of a project with models: the linter loads target_metadata without connecting."""
from alembic import context
from sqlalchemy import engine_from_config, pool

from breaking_models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

MODELS_PY = '''\
"""The application's models at head."""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Money(sa.types.TypeDecorator):
    impl = sa.Numeric(12, 2)
    cache_ok = True


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255))
    phone: Mapped[Optional[str]] = mapped_column(sa.String(32))
    nickname: Mapped[Optional[str]] = mapped_column(sa.String(40))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    price: Mapped[Decimal] = mapped_column(Money)
    note: Mapped[Optional[str]] = mapped_column(sa.Text, nullable=True)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = {"schema": "billing"}

    id: Mapped[int] = mapped_column(primary_key=True)
    memo: Mapped[Optional[str]] = mapped_column(sa.Text)
'''

#: revision -> (upgrade body, downgrade body)
MODEL_REVISIONS: dict[str, tuple[str, str]] = {
    "drop_mapped": ('op.drop_column("users", "phone")', "pass"),
    "drop_unmapped": ('op.drop_column("users", "legacy")', "pass"),
    "drop_unknown_table": ('op.drop_column("audit", "phone")', "pass"),
    "drop_sql": ('op.execute("ALTER TABLE users DROP COLUMN phone")', "pass"),
    "drop_and_readd": (
        'op.drop_column("users", "phone")\n'
        'op.add_column("users", sa.Column("phone", sa.Text(), nullable=True))',
        "pass",
    ),
    "rename_mapped": ('op.alter_column("products", "name", new_column_name="title")', "pass"),
    "rename_money": ('op.alter_column("products", "price", new_column_name="amount")', "pass"),
    "rename_unmapped": ('op.alter_column("products", "title", new_column_name="name")', "pass"),
    "rename_sql": ('op.execute("ALTER TABLE products RENAME COLUMN name TO title")', "pass"),
    "drop_schema": ('op.drop_column("invoices", "memo", schema="billing")', "pass"),
    "drop_wrong_schema": ('op.drop_column("invoices", "memo")', "pass"),
    "drop_in_downgrade": ("pass", 'op.drop_column("users", "phone")'),
    "not_null_nullable_model": ('op.alter_column("users", "nickname", nullable=False)', "pass"),
    "not_null_required_model": ('op.alter_column("users", "email", nullable=False)', "pass"),
    "not_null_sql": (
        'op.execute("ALTER TABLE users ALTER COLUMN nickname SET NOT NULL")',
        "pass",
    ),
    "add_not_null_nullable_model": (
        'op.add_column("products", sa.Column("note", sa.Text(), nullable=False,'
        ' server_default=""))',
        "pass",
    ),
    "add_not_null_required_model": (
        'op.add_column("products", sa.Column("name", sa.Text(), nullable=False,'
        ' server_default=""))',
        "pass",
    ),
    "not_null_schema": (
        'op.alter_column("invoices", "memo", nullable=False, schema="billing")',
        "pass",
    ),
    "not_null_unmapped": ('op.alter_column("users", "legacy", nullable=False)', "pass"),
    "not_null_in_downgrade": ("pass", 'op.alter_column("users", "nickname", nullable=False)'),
}


def write_model_project(root: Path, *, with_models: bool) -> Project:
    """The MODEL_REVISIONS history in a project whose env.py hands over the models (or not)."""
    write_scaffold(root)
    (root / "alembic.ini").write_text(ini_text(), encoding="utf-8")
    project = Project(root)
    if with_models:
        (project.migrations / "env.py").write_text(MODELS_ENV_PY, encoding="utf-8")
        (root / "breaking_models.py").write_text(MODELS_PY, encoding="utf-8")
    down: str | None = None
    for rev, (upgrade, downgrade) in MODEL_REVISIONS.items():
        project.revision(rev, down, upgrade, downgrade)
        down = rev
    return project


def check_json(project: Project) -> dict[str, Any]:
    result = run_main("check", "-c", project.ini, "--format", "json", cwd=project.root)
    assert result.code in (0, 1), result.err
    document: dict[str, Any] = result.json()
    return document


def codes_in(project: Project, rev: str) -> list[str]:
    return sorted(f["code"] for f in findings_of(check_json(project), rev))


@pytest.fixture(scope="module")
def model_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """JSON reports of the same history with models (``"models"``) and without (``"none"``)."""
    reports: dict[str, Any] = {}
    try:
        for key in ("models", "none"):
            project = write_model_project(tmp_path_factory.mktemp(key), with_models=key == "models")
            reports[key] = check_json(project)
        yield reports
    finally:
        # The in-process run imported the project's models module: forget it.
        sys.modules.pop("breaking_models", None)


def model_findings(reports: dict[str, Any], which: str, rev: str, code: str) -> list[Any]:
    return [f for f in findings_of(reports[which], rev) if f["code"] == code]


AS205_CASES = [
    ("drop_mapped", True),
    ("drop_unmapped", False),
    ("drop_unknown_table", False),
    ("drop_sql", True),
    ("drop_and_readd", False),
    ("rename_mapped", True),
    ("rename_money", True),
    ("rename_unmapped", False),
    ("rename_sql", True),
    ("drop_schema", True),
    ("drop_wrong_schema", False),
    ("drop_in_downgrade", False),
]


@pytest.mark.parametrize(("rev", "expected"), AS205_CASES)
def test_as205_with_models(model_reports: dict[str, Any], rev: str, expected: bool) -> None:
    found = model_findings(model_reports, "models", rev, "AS205")
    assert len(found) == int(expected), found
    if expected:
        [finding] = found
        assert finding["risk"] == "HIGH"
        assert finding["direction"] == "upgrade"
        entry = next(r for r in model_reports["models"]["revisions"] if r["revision"] == rev)
        assert entry["escalate"] is True
        assert "breaks a public interface: the models still map the column" in str(entry["reasons"])
        assert "the models still map" in finding["message"]
        assert_help_is_code(finding["help"])


@pytest.mark.parametrize("rev", [rev for rev, _ in AS205_CASES])
def test_as205_silent_without_models(model_reports: dict[str, Any], rev: str) -> None:
    assert model_findings(model_reports, "none", rev, "AS205") == []


def test_as205_help_uses_the_models_names_and_types(model_reports: dict[str, Any]) -> None:
    [drop] = model_findings(model_reports, "models", "drop_mapped", "AS205")
    assert 'op.drop_column("users", "phone")' in drop["help"]
    assert "AS301" in [f["code"] for f in findings_of(model_reports["models"], "drop_mapped")]
    [rename] = model_findings(model_reports, "models", "rename_mapped", "AS205")
    assert (
        'op.add_column("products", sa.Column("title", sa.String(length=200), nullable=True))'
        in rename["help"]
    )
    [money] = model_findings(model_reports, "models", "rename_money", "AS205")
    assert "sa.Numeric(precision=12, scale=2)" in money["help"]
    [schema] = model_findings(model_reports, "models", "drop_schema", "AS205")
    assert 'op.drop_column("invoices", "memo", schema="billing")' in schema["help"]
    assert '"billing.invoices.memo"' in schema["message"]


AS206_CASES = [
    ("not_null_nullable_model", True),
    ("not_null_required_model", False),
    ("not_null_sql", True),
    ("add_not_null_nullable_model", True),
    ("add_not_null_required_model", False),
    ("not_null_schema", True),
    ("not_null_unmapped", False),
    ("not_null_in_downgrade", False),
]


@pytest.mark.parametrize(("rev", "expected"), AS206_CASES)
def test_as206_with_models(model_reports: dict[str, Any], rev: str, expected: bool) -> None:
    found = model_findings(model_reports, "models", rev, "AS206")
    assert len(found) == int(expected), found
    if expected:
        [finding] = found
        assert finding["risk"] == "MEDIUM"
        assert "still declare it nullable" in finding["message"]
        assert_help_is_code(finding["help"])


@pytest.mark.parametrize("rev", [rev for rev, _ in AS206_CASES])
def test_as206_silent_without_models(model_reports: dict[str, Any], rev: str) -> None:
    assert model_findings(model_reports, "none", rev, "AS206") == []


def test_as205_through_the_console_script(make_project: MakeProject) -> None:
    """The real ``alembic-safety check -c`` executable loads the models from env.py."""
    project = make_project()
    (project.migrations / "env.py").write_text(MODELS_ENV_PY, encoding="utf-8")
    (project.root / "breaking_models.py").write_text(MODELS_PY, encoding="utf-8")
    path = project.revision("a1", None, 'op.drop_column("users", "phone")')
    result = run_cli("check", "-c", project.ini, "--select", "AS205", cwd=project.root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "AS205 column-still-in-models [HIGH]" in result.stdout
    assert f"line {line_of(path, 'drop_column')} " in result.stdout


def test_as205_models_that_fail_to_import_mean_no_models(make_project: MakeProject) -> None:
    project = make_project()
    env = MODELS_ENV_PY.replace("target_metadata = Base.metadata", "target_metadata = Base.nope")
    (project.migrations / "env.py").write_text(env, encoding="utf-8")
    (project.root / "breaking_models.py").write_text(MODELS_PY, encoding="utf-8")
    project.revision("a1", None, 'op.drop_column("users", "phone")')
    found = codes_in(project, "a1")
    assert "AS205" not in found
    assert "AS301" in found


# -- PostgreSQL ground truth ----------------------------------------------------------------------


def _reachable() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def conninfo() -> Iterator[str]:
    problem = _reachable()
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
    with scratch_database(PG_URL) as info:
        yield info


LOCK_SETUP = (
    "CREATE TABLE u (id int PRIMARY KEY);"
    "CREATE TABLE t (id int PRIMARY KEY, a int DEFAULT 0, u_id int, note text);"
    "CREATE UNIQUE INDEX t_a_key ON t (a);"
    "CREATE TABLE p (id int) PARTITION BY RANGE (id);"
    "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);"
    "CREATE TABLE p2 (id int);"
    "CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
    "CREATE TRIGGER old_trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg();"
    "ALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a >= 0) NOT VALID;"
)

#: SQL statements, each turned into operations by the analyzer and run on the server: the locks
#: ``table_locks`` claims must be the strongest the server holds on those tables, and a statement
#: claiming none must hold nothing stronger than SHARE UPDATE EXCLUSIVE on t.
LOCK_CASES: list[str | Callable[[], ops.MigrateOperation]] = [
    "ALTER TABLE t ADD COLUMN b int",
    "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
    "ALTER TABLE t ALTER COLUMN a DROP DEFAULT",
    "ALTER TABLE t ALTER COLUMN note TYPE varchar(10)",
    "ALTER TABLE t RENAME COLUMN note TO remark",
    "ALTER TABLE t DROP COLUMN note",
    "CREATE INDEX t_note_idx ON t (note)",
    # SQL DROP INDEX does not name the table; Alembic's op does (and renders the same SQL).
    lambda: ops.DropIndexOp("t_a_key", table_name="t"),
    "ALTER TABLE t ADD CONSTRAINT t_u_fk FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT ck_note CHECK (note <> '') NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT t_note_key UNIQUE (note)",
    "ALTER TABLE t ADD CONSTRAINT t_a_uq UNIQUE USING INDEX t_a_key",
    "ALTER TABLE t DROP CONSTRAINT ck_t_a",
    "ALTER TABLE t RENAME TO t_renamed",
    "TRUNCATE t",
    "LOCK TABLE t IN SHARE MODE",
    "LOCK TABLE t IN ROW EXCLUSIVE MODE",
    "CREATE TRIGGER new_trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION trg()",
    "DROP TRIGGER old_trg ON t",
    "ALTER TABLE p DETACH PARTITION p1",
    "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (10) TO (20)",
    "REINDEX TABLE t",
    "CLUSTER t USING t_a_key",
    "ALTER TABLE t VALIDATE CONSTRAINT ck_t_a",
    "UPDATE t SET note = 'x' WHERE id = 1",
    # alter_column with only a comment renders COMMENT ON COLUMN.
    lambda: ops.AlterColumnOp("t", "note", modify_comment="x", existing_type=sa.Text()),
    lambda: ops.AddColumnOp("t", sa.Column("b", sa.Integer(), comment="x")),
    lambda: ops.CreateIndexOp("t_note_idx", "t", ["note"], postgresql_concurrently=False),
    "ALTER TABLE t SET UNLOGGED",
]


def pg_mode(mode: str) -> str:
    return "".join(word.capitalize() for word in mode.split()) + "Lock"


def records_of(sql: str) -> list[OpRecord]:
    result = []
    for index, operation in enumerate(parse(sql).operations):
        table, schema = table_of(operation)
        result.append(
            OpRecord(operation, "upgrade", index, table=table, schema=schema, from_sql=sql)
        )
    return result


def op_records(operation: ops.MigrateOperation) -> list[OpRecord]:
    table, schema = table_of(operation)
    return [OpRecord(operation, "upgrade", 0, table=table, schema=schema)]


def lock_case_id(case: str | Callable[[], ops.MigrateOperation]) -> str:
    if isinstance(case, str):
        return case
    operation = case()
    return f"{type(operation).__name__}:{alembic_sql(operation).strip().rstrip(';')}"


@pytest.mark.postgres
@pytest.mark.parametrize("case", LOCK_CASES, ids=lock_case_id)
def test_table_locks_match_postgres(
    conninfo: str, case: str | Callable[[], ops.MigrateOperation]
) -> None:
    if isinstance(case, str):
        statement, records = case, records_of(case)
    else:
        statement, records = alembic_sql(case()), op_records(case())
    assert records, f"{statement!r} was not translated into an operation"
    claimed = {lock.table: pg_mode(lock.mode) for r in records for lock in table_locks(r)}
    obs = observe(conninfo, RESET + LOCK_SETUP, statement)
    assert obs.error is None, obs.error
    observed = {table: strongest(modes) for table, modes in obs.locks.items()}
    for table, mode in claimed.items():
        assert observed.get(table) == mode, (statement, claimed, obs.locks)
    weak = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock")
    for table, held in observed.items():
        if table in ("t", "u", "p", "p1", "p2") and table not in claimed:
            assert held in weak, f"{statement!r} takes {held} on {table} but claims none"


@pytest.mark.postgres
def test_validate_in_the_add_transaction_keeps_the_add_lock(conninfo: str) -> None:
    """AS402's premise: alone, VALIDATE takes SHARE UPDATE EXCLUSIVE; after the NOT VALID add in
    the same transaction the table stays ACCESS EXCLUSIVE-locked during the scan."""
    setup = RESET + "CREATE TABLE t (id int, a int); INSERT INTO t VALUES (1, 1);"
    alone = observe(
        conninfo,
        setup + "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
        "ALTER TABLE t VALIDATE CONSTRAINT c",
    )
    assert strongest(alone.locks["t"]) == "ShareUpdateExclusiveLock"
    together = observe(
        conninfo,
        setup,
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID; "
        "ALTER TABLE t VALIDATE CONSTRAINT c",
    )
    assert strongest(together.locks["t"]) == "AccessExclusiveLock"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t (s) VALUES ('c')",
        "UPDATE t SET s = 'a' WHERE s = 'c'",
        "ALTER TABLE t ALTER COLUMN s SET DEFAULT 'c'",
        "ALTER TABLE t ADD COLUMN s2 st DEFAULT 'c'",
    ],
)
def test_new_enum_value_is_unusable_until_committed(conninfo: str, statement: str) -> None:
    """AS404's premise (PostgreSQL 15): each use fails in the adding transaction; the linter
    flags the same SQL."""
    setup = RESET + "CREATE TYPE st AS ENUM ('a', 'b'); CREATE TABLE t (id int, s st);"
    sql = f"ALTER TYPE st ADD VALUE 'c'; {statement}"
    obs = observe(conninfo, setup, sql)
    assert obs.error is not None
    assert obs.error.startswith("55P04: unsafe use of new value"), obs.error
    assert "AS404" in codes(assess_sql(sql))
    committed = observe(conninfo, setup + "ALTER TYPE st ADD VALUE 'c';", statement)
    assert committed.error is None, committed.error


@pytest.mark.postgres
def test_new_enum_value_of_a_type_created_in_the_same_transaction(conninfo: str) -> None:
    """Even a type created in the same transaction does not make the new value usable (15)."""
    sql = (
        "CREATE TYPE st2 AS ENUM ('x'); ALTER TYPE st2 ADD VALUE 'y'; "
        "CREATE TABLE t2 (s st2); INSERT INTO t2 VALUES ('y')"
    )
    obs = observe(conninfo, RESET, sql)
    assert obs.error is not None
    assert obs.error.startswith("55P04"), obs.error
    assert "AS404" in codes(assess_sql(sql))


@pytest.mark.postgres
def test_dropped_default_makes_inserts_without_the_column_fail(conninfo: str) -> None:
    """AS203's premise: the running code's INSERT fails once the default is gone."""
    setup = RESET + "CREATE TABLE t (id int, status text NOT NULL DEFAULT 'new');"
    insert = "INSERT INTO t (id) VALUES (1)"
    assert observe(conninfo, setup, insert).error is None
    obs = observe(conninfo, setup, f"ALTER TABLE t ALTER COLUMN status DROP DEFAULT; {insert}")
    assert obs.error is not None
    assert obs.error.startswith("23502:"), obs.error


#: (existing type, new type, column SQL, a value that fits the old type but not the new one —
#: or None when the new type holds every old value)
NARROWING_CASES = [
    pytest.param(sa.String(64), sa.String(20), "varchar(64)", "repeat('x', 64)", id="varchar"),
    pytest.param(sa.Text(), sa.String(20), "text", "repeat('x', 64)", id="text-to-varchar"),
    pytest.param(sa.CHAR(10), sa.CHAR(4), "char(10)", "'abcdefghij'", id="char"),
    pytest.param(sa.BigInteger(), sa.Integer(), "bigint", "2147483648", id="bigint-to-int"),
    pytest.param(sa.Integer(), sa.SmallInteger(), "int", "32768", id="int-to-smallint"),
    pytest.param(
        sa.Numeric(12, 2), sa.Numeric(10, 2), "numeric(12,2)", "9999999999.99", id="precision"
    ),
    pytest.param(
        sa.Numeric(10, 2), sa.Numeric(10, 4), "numeric(10,2)", "99999999.99", id="more-scale"
    ),
    pytest.param(sa.Numeric(), sa.Numeric(10, 2), "numeric", "1e20", id="unbounded-numeric"),
    pytest.param(sa.Numeric(12, 2), sa.Integer(), "numeric(12,2)", "9999999999", id="to-int"),
    pytest.param(sa.String(20), sa.String(64), "varchar(20)", None, id="widen-varchar"),
    pytest.param(sa.String(20), sa.Text(), "varchar(20)", None, id="varchar-to-text"),
    pytest.param(sa.Integer(), sa.BigInteger(), "int", None, id="int-to-bigint"),
    pytest.param(sa.SmallInteger(), sa.Integer(), "smallint", None, id="smallint-to-int"),
    pytest.param(sa.Numeric(10, 2), sa.Numeric(12, 2), "numeric(10,2)", None, id="widen-numeric"),
    pytest.param(sa.Numeric(10, 2), sa.Numeric(12, 4), "numeric(10,2)", None, id="scale-up"),
    pytest.param(sa.Numeric(10, 2), sa.Numeric(), "numeric(10,2)", None, id="to-unbounded"),
]

#: The largest value of each old type whose change is not narrowing: it must survive.
_WIDEST = {
    "varchar(20)": "repeat('x', 20)",
    "int": "2147483647",
    "smallint": "32767",
    "numeric(10,2)": "99999999.99",
}


@pytest.mark.postgres
@pytest.mark.parametrize(("existing", "new", "column_sql", "misfit"), NARROWING_CASES)
def test_narrowing_decision_matches_postgres(
    conninfo: str, existing: Any, new: Any, column_sql: str, misfit: str | None
) -> None:
    """AS204 flags a change exactly when some value of the old type makes PostgreSQL fail."""
    operation = ops.AlterColumnOp("t", "c", existing_type=existing, modify_type=new)
    is_flagged = "AS204" in codes(assess_operations([operation]))
    assert is_flagged is (misfit is not None)
    value = misfit if misfit is not None else _WIDEST[column_sql]
    setup = RESET + f"CREATE TABLE t (c {column_sql}); INSERT INTO t VALUES ({value});"
    obs = observe(conninfo, setup, alembic_sql(operation))
    if misfit is None:
        assert obs.error is None, obs.error
    else:
        assert obs.error is not None, "PostgreSQL accepted a value the rule says does not fit"
        assert obs.error.split(":")[0] in ("22001", "22003"), obs.error


@pytest.mark.postgres
def test_scale_decrease_rounds_silently(conninfo: str) -> None:
    """numeric(12,4) → numeric(12,2) does not fail, it rounds: AS204 reports it as data loss."""
    setup = RESET + "CREATE TABLE t (c numeric(12,4)); INSERT INTO t VALUES (1.2345);"
    obs = observe(conninfo, setup, "ALTER TABLE t ALTER COLUMN c TYPE numeric(12,2)")
    assert obs.error is None
    found = narrowing(sa.Numeric(12, 4), sa.Numeric(12, 2))
    assert found is not None
    assert "rounded away" in found.reason


def alembic_sql(*operations: ops.MigrateOperation) -> str:
    """The SQL Alembic itself emits for ``operations`` on PostgreSQL (offline mode)."""
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer}
    )
    runner = Operations(context)
    for operation in operations:
        runner.invoke(operation)
    return buffer.getvalue()


# -- documentation hygiene for the rules of this module ----------------------------------------

CODES = ("AS203", "AS204", "AS205", "AS206", "AS402", "AS403", "AS404", "AS405", "AS406")


@pytest.mark.parametrize("code", CODES)
def test_rule_metadata(code: str) -> None:
    rule = registry.get(code)
    assert rule is not None
    doc = textwrap.dedent(rule.__doc__ or "")
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety"):
        assert f"## {section}" in doc
    assert rule.summary().endswith((".", ")"))
    expected_risk = {"AS205": Risk.HIGH, "AS406": Risk.LOW}.get(code, Risk.MEDIUM)
    assert rule.risk == expected_risk
    assert (rule.lock is not None) is (code in ("AS203", "AS402"))
    assert not rule.rewrites
    assert rule.is_revision_rule() is (code in ("AS405", "AS406"))


# -- the documentation's examples are true ------------------------------------------------------


def doc_blocks(code: str, name: str) -> list[str]:
    """The ```python blocks of section ``name`` of the rule's docstring."""
    rule = registry.get(code)
    assert rule is not None
    doc = inspect.cleandoc(rule.__doc__ or "")
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert match is not None, f"{code}: no section {name!r}"
    return re.findall(r"```python\n(.*?)```", match.group(1), re.S)


def target_of(code: str) -> int:
    rule = registry.get(code)
    assert rule is not None
    return 15 if rule.applies_to_version(15) else int(rule.max_version or rule.min_version or 15)


@pytest.mark.parametrize("code", ["AS203", "AS204", "AS402", "AS403", "AS404", "AS405", "AS406"])
def test_docs_example_triggers_and_use_instead_does_not(tmp_path: Path, code: str) -> None:
    """What tests/test_rule_docs.py checks for the rules in its EXAMPLE_SCOPE."""
    (example,) = doc_blocks(code, "Example")
    path = revision(tmp_path / "example", example)
    assert code in codes(assess_revision(path, target_version=target_of(code)).active_findings)
    blocks = doc_blocks(code, "Use instead")
    assert blocks
    for number, block in enumerate(blocks):
        path = revision(tmp_path / f"fix{number}", block)
        found = assess_revision(path, target_version=target_of(code)).active_findings
        assert code not in codes(found), block


DOC_MODELS = """\
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    {phone}


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[{status}] = mapped_column(sa.String(20))
"""


@pytest.mark.parametrize("code", ["AS205", "AS206"])
def test_docs_examples_of_the_model_rules(make_project: MakeProject, code: str) -> None:
    """The Example triggers with the models as they stand before the fix (phone still mapped,
    status Optional), the Use instead does not with the models after it."""
    for stage, models in (
        (
            "before",
            DOC_MODELS.format(phone="phone: Mapped[str] = mapped_column()", status="Optional[str]"),
        ),
        ("after", DOC_MODELS.format(phone="", status="str")),
    ):
        project = make_project(subdir=f"{code}-{stage}")
        env = MODELS_ENV_PY.replace("from breaking_models import", "from doc_models import")
        (project.migrations / "env.py").write_text(env, encoding="utf-8")
        (project.root / "doc_models.py").write_text(models, encoding="utf-8")
        blocks = doc_blocks(code, "Example" if stage == "before" else "Use instead")
        down: str | None = None
        for number, block in enumerate(blocks):
            project.revision(f"r{number}", down, block)
            down = f"r{number}"
        document = check_json(project)
        sys.modules.pop("doc_models", None)
        for number in range(len(blocks)):
            found = [f["code"] for f in findings_of(document, f"r{number}")]
            assert (code in found) is (stage == "before"), (stage, blocks[number], found)


def test_as121_not_reported_when_the_runner_sets_the_timeout(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.execute("CREATE TRIGGER orders_touch BEFORE UPDATE ON orders '
        'FOR EACH ROW EXECUTE FUNCTION touch()")',
    )
    assert "AS121" in codes(Analyzer().assess_file(path).findings)
    assert "AS121" not in codes(Analyzer(lock_timeout_by_runner=True).assess_file(path).findings)
