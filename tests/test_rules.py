"""Every rule that looks at operations, case by case, through the public API only.

Each table below is one behaviour per row and one pytest id per row: a dangerous operation
written with Alembic op objects and again as raw SQL (exactly the expected code, on the right
table, at the right risk, with help written in the user's own names and, where the help is code,
code that compiles and only names things ``sa``/``postgresql`` really have), its safe
counterparts (no finding of that rule), the new-table exemption, version gating, the type-change
and volatile-default matrices, and data statements.

Bugs found later are added as ``xfail(strict=True, reason="BUG: ...")`` cases; once fixed they
pass, which turns the suite red until the mark is removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import postgresql

from alembic_safety.analysis.ops import (
    DataAccessOp,
    DeleteRowsOp,
    MaintenanceOp,
    TruncateOp,
    UpdateRowsOp,
)
from alembic_safety.risk import Finding, Risk, assess_operations, assess_revision, assess_sql
from alembic_safety.rules import registry

OpsFactory = Callable[[], list[ops.MigrateOperation]]
Source = OpsFactory | str

#: Rules whose help is prose, only comments, or has a ``<type>``-style placeholder: their help is
#: checked for the user's names but not compiled.
HELP_NOT_CODE = frozenset({"AS201", "AS303", "AS304", "AS401", "AS901", "AS902"})

#: The rules under test: every rule that looks at operations when this module was written.
#: Rules added to the catalogue since (AS113-AS115, AS402, AS405, AS406, AS503-AS505) are
#: tested in their own modules; their findings are left out of the comparisons here.
IN_SCOPE = frozenset(
    {
        *(f"AS{n}" for n in range(101, 113)),
        "AS201",
        "AS202",
        "AS301",
        "AS302",
        "AS303",
        "AS304",
        "AS401",
        "AS501",
        "AS502",
        "AS901",
        "AS902",
    }
)

#: Rules that report operations on a table created earlier in the same revision.
STILL_FIRE_ON_NEW_TABLES = frozenset({"AS401"})


def scoped(findings: Sequence[Finding]) -> list[Finding]:
    """The findings of the rules under test (later rules have their own test modules)."""
    return [f for f in findings if f.code in IN_SCOPE]


def lint_ops(operations: Sequence[ops.MigrateOperation], **kwargs: Any) -> list[Finding]:
    return scoped(assess_operations(operations, **kwargs))


def lint_sql(sql: str, **kwargs: Any) -> list[Finding]:
    return scoped(assess_sql(sql, **kwargs))


def run(source: Source, **kwargs: Any) -> list[Finding]:
    """Assess an op-list factory or a SQL text with the public API."""
    if isinstance(source, str):
        return lint_sql(source, **kwargs)
    return lint_ops(source(), **kwargs)


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


# -- dangerous operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Danger:
    """``source`` must give exactly ``expected`` (default: ``code``) on ``table`` at ``risk``."""

    code: str
    source: Source
    table: str | None
    #: The user's names that the help must repeat.
    names: tuple[str, ...] = ()
    #: Text the message must contain (for rules whose help is generic).
    in_message: tuple[str, ...] = ()
    risk: Risk | None = None
    expected: tuple[str, ...] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def danger(case_id: str, *args: Any, marks: Any = (), **kwargs: Any) -> Any:
    return pytest.param(Danger(*args, **kwargs), id=case_id, marks=marks)


DANGEROUS_OPS = [
    danger(
        "AS101-add-not-null-column",
        "AS101",
        lambda: [ops.AddColumnOp("orders", sa.Column("status", sa.String(20), nullable=False))],
        "orders",
        names=("orders", "status", "ck_orders_status_not_null", "nullable=True"),
    ),
    danger(
        "AS102-add-column-gen-random-uuid",
        "AS102",
        lambda: [
            ops.AddColumnOp(
                "users",
                sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")),
            )
        ],
        "users",
        names=("users", "token", "gen_random_uuid()"),
    ),
    danger(
        "AS103-add-stored-computed-column",
        "AS103",
        lambda: [
            ops.AddColumnOp(
                "orders",
                sa.Column(
                    "total_cents",
                    sa.BigInteger(),
                    sa.Computed("quantity * price_cents", persisted=True),
                ),
            )
        ],
        "orders",
        names=("orders", "total_cents", "sa.BigInteger()"),
    ),
    danger(
        "AS103-add-identity-column",
        "AS103",
        lambda: [ops.AddColumnOp("orders", sa.Column("seq_no", sa.BigInteger(), sa.Identity()))],
        "orders",
        names=("orders", "seq_no"),
    ),
    danger(
        "AS104-set-not-null",
        "AS104",
        lambda: [
            ops.AlterColumnOp(
                "orders", "status", modify_nullable=False, existing_type=sa.String(20)
            )
        ],
        "orders",
        names=("orders", "status", "ck_orders_status_not_null", "VALIDATE CONSTRAINT"),
    ),
    danger(
        "AS105-int-to-bigint",
        "AS105",
        lambda: [
            ops.AlterColumnOp(
                "order_items",
                "quantity",
                existing_type=sa.Integer(),
                modify_type=sa.BigInteger(),
            )
        ],
        "order_items",
        names=("order_items", "quantity", "quantity_new", "sa.BigInteger()"),
    ),
    danger(
        "AS106-create-index",
        "AS106",
        lambda: [ops.CreateIndexOp("ix_orders_created_at", "orders", ["created_at"])],
        "orders",
        names=("ix_orders_created_at", "orders", "created_at", "postgresql_concurrently=True"),
    ),
    danger(
        "AS106-create-unique-index",
        "AS106",
        lambda: [ops.CreateIndexOp("ix_users_email", "users", ["email"], unique=True)],
        "users",
        names=("ix_users_email", "users", "email", "unique=True"),
    ),
    danger(
        "AS107-drop-index",
        "AS107",
        lambda: [ops.DropIndexOp("ix_orders_created_at", table_name="orders")],
        "orders",
        names=("ix_orders_created_at", "orders", "postgresql_concurrently=True"),
    ),
    danger(
        "AS108-create-foreign-key",
        "AS108",
        lambda: [
            ops.CreateForeignKeyOp(
                "fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"]
            )
        ],
        "orders",
        names=("fk_orders_user_id_users", "orders", "users", "user_id", "postgresql_not_valid"),
    ),
    danger(
        "AS109-create-check-constraint",
        "AS109",
        lambda: [
            ops.CreateCheckConstraintOp("ck_products_price_positive", "products", "price >= 0")
        ],
        "products",
        names=("ck_products_price_positive", "products", "price >= 0", "postgresql_not_valid"),
    ),
    danger(
        "AS110-create-unique-constraint",
        "AS110",
        lambda: [ops.CreateUniqueConstraintOp("uq_users_email", "users", ["email"])],
        "users",
        names=("uq_users_email", "users", "email", "UNIQUE USING INDEX"),
    ),
    danger(
        "AS111-create-primary-key",
        "AS111",
        lambda: [ops.CreatePrimaryKeyOp("pk_events", "events", ["id"])],
        "events",
        names=("pk_events", "events", "PRIMARY KEY USING INDEX"),
    ),
    danger(
        "AS112-reindex-op",
        "AS112",
        lambda: [MaintenanceOp("REINDEX", "users")],
        "users",
        names=("REINDEX TABLE CONCURRENTLY users", "autocommit_block"),
    ),
    danger(
        "AS201-rename-column",
        "AS201",
        lambda: [ops.AlterColumnOp("products", "name", modify_name="title")],
        "products",
        names=("products", "name", "title"),
    ),
    danger(
        "AS202-rename-table",
        "AS202",
        lambda: [ops.RenameTableOp("customers", "clients")],
        "customers",
        names=("customers", "clients", "CREATE VIEW"),
    ),
    danger(
        "AS301-drop-column",
        "AS301",
        lambda: [ops.DropColumnOp("users", "phone")],
        "users",
        names=("users", "phone"),
    ),
    danger(
        "AS302-drop-table",
        "AS302",
        lambda: [ops.DropTableOp("legacy_events")],
        "legacy_events",
        names=("legacy_events",),
    ),
    danger(
        "AS303-truncate-op",
        "AS303",
        lambda: [TruncateOp("audit_log")],
        "audit_log",
        names=("audit_log",),
    ),
    danger(
        "AS304-delete-rows-op",
        "AS304",
        lambda: [DeleteRowsOp("sessions", has_where=False)],
        "sessions",
        names=("sessions",),
    ),
    danger(
        "AS401-create-index-concurrently",
        "AS401",
        lambda: [
            ops.CreateIndexOp("ix_users_email", "users", ["email"], postgresql_concurrently=True)
        ],
        "users",
        names=("autocommit_block",),
        in_message=("CREATE INDEX CONCURRENTLY",),
    ),
    danger(
        "AS401-drop-index-concurrently",
        "AS401",
        lambda: [
            ops.DropIndexOp("ix_users_email", table_name="users", postgresql_concurrently=True)
        ],
        "users",
        names=("autocommit_block",),
        in_message=("DROP INDEX CONCURRENTLY",),
    ),
    danger(
        "AS401-reindex-concurrently-op",
        "AS401",
        lambda: [MaintenanceOp("REINDEX", "users", concurrently=True)],
        "users",
        names=("autocommit_block",),
        in_message=("REINDEX CONCURRENTLY",),
    ),
    danger(
        "AS501-update-rows-op",
        "AS501",
        lambda: [UpdateRowsOp("products", has_where=False)],
        "products",
        names=("products", "autocommit_block", "LIMIT 5000"),
    ),
    danger(
        "AS502-update-rows-op-with-where",
        "AS502",
        lambda: [UpdateRowsOp("products", has_where=True)],
        "products",
        names=("products", "id > :last", "autocommit_block"),
    ),
    danger(
        "AS901-execute-unparseable",
        "AS901",
        lambda: [ops.ExecuteSQLOp("ALTER TABEL orders ADD COLUMN note text")],
        None,
        in_message=("ALTER TABEL orders",),
    ),
    danger(
        "AS902-data-access",
        "AS902",
        lambda: [DataAccessOp("execute", "SELECT id FROM users")],
        None,
        in_message=("SELECT id FROM users",),
    ),
]

DANGEROUS_SQL = [
    danger(
        "AS101-sql-add-not-null",
        "AS101",
        "ALTER TABLE orders ADD COLUMN status varchar(20) NOT NULL",
        "orders",
        names=("orders", "status", "sa.String(length=20)"),
    ),
    danger(
        "AS101-sql-add-not-null-schema",
        "AS101",
        "ALTER TABLE ONLY shop.orders ADD COLUMN status varchar(20) NOT NULL",
        "orders",
        names=("shop", "orders", "status"),
    ),
    danger(
        "AS102-sql-volatile-default",
        "AS102",
        "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()",
        "users",
        names=("users", "token", "gen_random_uuid()"),
    ),
    danger(
        "AS102-sql-bigserial",
        "AS102",
        "ALTER TABLE orders ADD COLUMN c bigserial",
        "orders",
        names=("orders", "nextval"),
        in_message=("nextval()",),
    ),
    danger(
        "AS103-sql-identity",
        "AS103",
        "ALTER TABLE orders ADD COLUMN c int GENERATED ALWAYS AS IDENTITY",
        "orders",
        names=("orders",),
    ),
    danger(
        "AS103-sql-generated-stored",
        "AS103",
        "ALTER TABLE orders ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED",
        "orders",
        names=("orders", "sa.Integer()"),
        in_message=("stored generated column",),
    ),
    danger(
        "AS103-sql-generated-jsonb-help-names",
        "AS103",
        "ALTER TABLE orders ADD COLUMN doc jsonb GENERATED ALWAYS AS (to_jsonb(a)) STORED",
        "orders",
        names=("orders", "doc"),
    ),
    danger(
        "AS104-sql-set-not-null",
        "AS104",
        "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
        "orders",
        names=("orders", "status"),
    ),
    danger(
        "AS105-sql-type-bigint",
        "AS105",
        "ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint",
        "order_items",
        names=("order_items", "quantity", "sa.BigInteger()"),
        in_message=("existing_type",),
    ),
    danger(
        "AS105-sql-type-using",
        "AS105",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2) USING round(total, 2)",
        "orders",
        names=("orders", "total"),
        in_message=("USING",),
    ),
    danger(
        "AS104-AS105-sql-one-statement-two-commands",
        "AS105",
        "ALTER TABLE orders ALTER COLUMN s TYPE varchar(50), ALTER COLUMN s SET NOT NULL",
        "orders",
        names=("orders",),
        expected=("AS104", "AS105"),
    ),
    danger(
        "AS106-sql-create-index",
        "AS106",
        "CREATE INDEX ix_orders_created_at ON orders (created_at)",
        "orders",
        names=("ix_orders_created_at", "orders", "created_at"),
    ),
    danger(
        "AS106-sql-create-unique-index",
        "AS106",
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_users_email ON users (email)",
        "users",
        names=("ix_users_email", "users", "email", "unique=True"),
    ),
    danger(
        "AS107-sql-drop-index",
        "AS107",
        "DROP INDEX ix_orders_created_at",
        None,
        names=("ix_orders_created_at",),
    ),
    danger(
        "AS108-sql-foreign-key",
        "AS108",
        "ALTER TABLE orders ADD CONSTRAINT fk_orders_user FOREIGN KEY (user_id) "
        "REFERENCES users (id)",
        "orders",
        names=("fk_orders_user", "orders", "users", "user_id"),
    ),
    danger(
        "AS109-sql-check",
        "AS109",
        "ALTER TABLE products ADD CONSTRAINT ck_price CHECK (price >= 0)",
        "products",
        names=("ck_price", "products", "price >= 0"),
    ),
    danger(
        "AS110-sql-unique",
        "AS110",
        "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email)",
        "users",
        names=("uq_users_email", "users", "email"),
    ),
    danger(
        "AS111-sql-primary-key",
        "AS111",
        "ALTER TABLE events ADD PRIMARY KEY (id)",
        "events",
        names=("pk_events", "events"),
    ),
    danger(
        "AS112-sql-reindex-table",
        "AS112",
        "REINDEX TABLE users",
        "users",
        names=("REINDEX TABLE CONCURRENTLY users",),
    ),
    danger(
        "AS112-sql-reindex-table-pg11",
        "AS112",
        "REINDEX TABLE users",
        "users",
        names=("CREATE INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY"),
        kwargs={"target_version": 11},
    ),
    danger(
        "AS201-sql-rename-column",
        "AS201",
        "ALTER TABLE products RENAME COLUMN name TO title",
        "products",
        names=("products", "name", "title"),
    ),
    danger(
        "AS202-sql-rename-table",
        "AS202",
        "ALTER TABLE customers RENAME TO clients",
        "customers",
        names=("customers", "clients"),
    ),
    danger(
        "AS301-sql-drop-column",
        "AS301",
        "ALTER TABLE users DROP COLUMN phone",
        "users",
        names=("users", "phone"),
    ),
    danger(
        "AS301-sql-drop-column-cascade",
        "AS301",
        "ALTER TABLE users DROP COLUMN phone CASCADE",
        "users",
        names=("users", "phone"),
        in_message=("CASCADE",),
    ),
    danger(
        "AS302-sql-drop-table",
        "AS302",
        "DROP TABLE legacy_events",
        "legacy_events",
        names=("legacy_events",),
    ),
    danger(
        "AS303-sql-truncate",
        "AS303",
        "TRUNCATE audit_log",
        "audit_log",
        names=("audit_log",),
    ),
    danger(
        "AS304-sql-delete",
        "AS304",
        "DELETE FROM sessions",
        "sessions",
        names=("sessions",),
    ),
    danger(
        "AS401-sql-create-index-concurrently",
        "AS401",
        "CREATE INDEX CONCURRENTLY ix_users_email ON users (email)",
        "users",
        in_message=("CREATE INDEX CONCURRENTLY",),
    ),
    danger(
        "AS401-sql-drop-index-concurrently",
        "AS401",
        "DROP INDEX CONCURRENTLY ix_users_email",
        None,
        in_message=("DROP INDEX CONCURRENTLY",),
    ),
    danger(
        "AS401-sql-reindex-concurrently",
        "AS401",
        "REINDEX TABLE CONCURRENTLY users",
        "users",
        in_message=("REINDEX CONCURRENTLY",),
    ),
    danger(
        "AS501-sql-update",
        "AS501",
        "UPDATE products SET sku = upper(sku)",
        "products",
        names=("products",),
    ),
    danger(
        "AS502-sql-update-with-where",
        "AS502",
        "UPDATE products SET sku = upper(sku) WHERE sku <> upper(sku)",
        "products",
        names=("products", "sku <> upper(sku)", "id > :last", "id <= :upto"),
        in_message=("sku <> upper(sku)",),
    ),
    danger(
        "AS901-sql-typo",
        "AS901",
        "ALTER TABEL x",
        None,
        in_message=("ALTER TABEL x",),
    ),
]


def _check_danger(case: Danger) -> None:
    findings = run(case.source, **case.kwargs)
    assert codes(findings) == sorted(case.expected or (case.code,)), [
        (f.code, f.message) for f in findings
    ]
    finding = only(findings, case.code)
    rule = registry.get(case.code)
    assert rule is not None
    assert finding.name == rule.name
    assert finding.table == case.table
    assert finding.risk == (case.risk or rule.risk)
    assert finding.direction == "upgrade"
    assert finding.message
    for name in case.names:
        assert name in finding.help, f"{name!r} not in help:\n{finding.help}"
    for text in case.in_message:
        assert text in finding.message, f"{text!r} not in message: {finding.message}"
    if case.code not in HELP_NOT_CODE:
        assert_help_is_code(finding.help)


@pytest.mark.parametrize("case", DANGEROUS_OPS)
def test_dangerous_operation(case: Danger) -> None:
    _check_danger(case)


@pytest.mark.parametrize("case", DANGEROUS_SQL)
def test_dangerous_sql(case: Danger) -> None:
    _check_danger(case)


def test_every_rule_under_test_has_a_dangerous_case() -> None:
    with_operations = {rule.code for rule in registry if rule.operations}
    assert with_operations >= IN_SCOPE
    covered = {p.values[0].code for p in DANGEROUS_OPS}
    assert covered == IN_SCOPE
    covered_sql = {p.values[0].code for p in DANGEROUS_SQL}
    # AS902 only comes from a live bind (op.get_bind()), never from SQL text.
    assert covered - covered_sql == {"AS902"}


# -- safe counterparts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Safe:
    """``source`` gives no finding of ``code`` (and none at all when ``clean``)."""

    code: str
    source: Source
    clean: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)


def safe(case_id: str, *args: Any, marks: Any = (), **kwargs: Any) -> Any:
    return pytest.param(Safe(*args, **kwargs), id=case_id, marks=marks)


UTC = "SET timezone = 'UTC'"

SAFE = [
    safe(
        "AS101-nullable-add",
        "AS101",
        lambda: [ops.AddColumnOp("orders", sa.Column("status", sa.String(20), nullable=True))],
    ),
    safe(
        "AS101-not-null-with-string-default",
        "AS101",
        lambda: [
            ops.AddColumnOp(
                "orders",
                sa.Column("status", sa.String(20), nullable=False, server_default="new"),
            )
        ],
    ),
    safe(
        "AS101-not-null-with-text-0-default",
        "AS101",
        lambda: [
            ops.AddColumnOp(
                "orders",
                sa.Column("quantity", sa.Integer(), nullable=False, server_default=sa.text("0")),
            )
        ],
    ),
    safe(
        "AS101-not-null-with-now-default",
        "AS101",
        lambda: [
            ops.AddColumnOp(
                "orders",
                sa.Column(
                    "created_at",
                    sa.DateTime(timezone=True),
                    nullable=False,
                    server_default=sa.func.now(),
                ),
            )
        ],
    ),
    safe(
        "AS101-sql-not-null-constant-default",
        "AS101",
        "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'",
    ),
    safe("AS101-sql-nullable", "AS101", "ALTER TABLE orders ADD COLUMN note text"),
    safe(
        "AS102-now-default",
        "AS102",
        "ALTER TABLE orders ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()",
    ),
    safe(
        "AS102-no-default",
        "AS102",
        lambda: [ops.AddColumnOp("users", sa.Column("token", sa.Uuid()))],
    ),
    safe(
        "AS102-set-volatile-default-on-existing-column",
        "AS102",
        "ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid()",
    ),
    safe(
        "AS103-plain-column",
        "AS103",
        lambda: [ops.AddColumnOp("orders", sa.Column("total_cents", sa.BigInteger()))],
    ),
    safe(
        "AS104-drop-not-null",
        "AS104",
        "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL",
    ),
    safe(
        "AS104-alter-nullable-true",
        "AS104",
        lambda: [ops.AlterColumnOp("orders", "status", modify_nullable=True)],
    ),
    safe(
        "AS104-already-not-null",
        "AS104",
        lambda: [
            ops.AlterColumnOp("orders", "status", modify_nullable=False, existing_nullable=False)
        ],
    ),
    safe(
        "AS104-not-valid-check-validate-then-set-not-null",
        "AS104",
        lambda: [
            ops.CreateCheckConstraintOp(
                "ck", "orders", "status IS NOT NULL", postgresql_not_valid=True
            ),
            ops.ExecuteSQLOp("ALTER TABLE orders VALIDATE CONSTRAINT ck"),
            ops.AlterColumnOp("orders", "status", modify_nullable=False),
        ],
    ),
    safe(
        "AS104-sql-not-valid-check-validate-then-set-not-null",
        "AS104",
        "ALTER TABLE orders ADD CONSTRAINT ck CHECK (status IS NOT NULL) NOT VALID; "
        "ALTER TABLE orders VALIDATE CONSTRAINT ck; "
        "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
    ),
    safe(
        "AS105-varchar-widening",
        "AS105",
        lambda: [
            ops.AlterColumnOp(
                "orders", "status", existing_type=sa.String(20), modify_type=sa.String(50)
            )
        ],
    ),
    safe(
        "AS105-varchar-to-text",
        "AS105",
        lambda: [
            ops.AlterColumnOp(
                "orders", "status", existing_type=sa.String(20), modify_type=sa.Text()
            )
        ],
    ),
    safe(
        "AS105-numeric-precision-widening",
        "AS105",
        lambda: [
            ops.AlterColumnOp(
                "orders",
                "total",
                existing_type=sa.Numeric(10, 2),
                modify_type=sa.Numeric(12, 2),
            )
        ],
    ),
    safe(
        "AS105-timestamptz-after-set-timezone-utc",
        "AS105",
        lambda: [
            ops.ExecuteSQLOp(UTC),
            ops.AlterColumnOp(
                "orders",
                "created_at",
                existing_type=sa.DateTime(),
                modify_type=sa.DateTime(timezone=True),
            ),
        ],
    ),
    safe(
        "AS105-no-type-change",
        "AS105",
        lambda: [ops.AlterColumnOp("orders", "status", existing_type=sa.String(20))],
    ),
    safe(
        "AS106-concurrently-in-autocommit",
        "AS106",
        lambda: [
            ops.CreateIndexOp(
                "ix_orders_created_at", "orders", ["created_at"], postgresql_concurrently=True
            )
        ],
        kwargs={"autocommit": True},
    ),
    safe(
        "AS106-sql-concurrently-in-autocommit",
        "AS106",
        "CREATE INDEX CONCURRENTLY ix_orders_created_at ON orders (created_at)",
        kwargs={"autocommit": True},
    ),
    safe(
        "AS107-drop-concurrently-in-autocommit",
        "AS107",
        lambda: [
            ops.DropIndexOp(
                "ix_orders_created_at", table_name="orders", postgresql_concurrently=True
            )
        ],
        kwargs={"autocommit": True},
    ),
    safe(
        "AS107-sql-drop-concurrently-in-autocommit",
        "AS107",
        "DROP INDEX CONCURRENTLY IF EXISTS ix_orders_created_at",
        kwargs={"autocommit": True},
    ),
    safe(
        "AS108-not-valid",
        "AS108",
        lambda: [
            ops.CreateForeignKeyOp(
                "fk_orders_user",
                "orders",
                "users",
                ["user_id"],
                ["id"],
                postgresql_not_valid=True,
            )
        ],
    ),
    safe(
        "AS108-sql-not-valid",
        "AS108",
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) "
        "NOT VALID",
    ),
    safe(
        "AS108-sql-validate-constraint",
        "AS108",
        "ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user",
    ),
    safe(
        "AS109-not-valid",
        "AS109",
        lambda: [
            ops.CreateCheckConstraintOp(
                "ck_price", "products", "price >= 0", postgresql_not_valid=True
            )
        ],
    ),
    safe(
        "AS109-sql-not-valid",
        "AS109",
        "ALTER TABLE products ADD CONSTRAINT ck_price CHECK (price >= 0) NOT VALID",
    ),
    safe(
        "AS109-sql-validate-constraint",
        "AS109",
        "ALTER TABLE products VALIDATE CONSTRAINT ck_price",
    ),
    safe(
        "AS110-sql-unique-using-index",
        "AS110",
        "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email",
    ),
    safe(
        "AS111-sql-primary-key-using-index",
        "AS111",
        "ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY USING INDEX pk_events",
    ),
    safe(
        "AS201-alter-without-rename",
        "AS201",
        lambda: [
            ops.AlterColumnOp(
                "products", "name", existing_type=sa.String(20), modify_type=sa.String(50)
            )
        ],
    ),
    safe(
        "AS201-sql-rename-index-is-not-a-column-rename",
        "AS201",
        "ALTER INDEX ix_products_name RENAME TO ix_products_title",
    ),
    safe(
        "AS301-drop-constraint-is-not-a-column-drop",
        "AS301",
        "ALTER TABLE users DROP CONSTRAINT uq_users_phone",
    ),
    safe("AS302-drop-view-is-not-a-table-drop", "AS302", "DROP VIEW legacy_report"),
    safe("AS303-delete-with-where", "AS303", "DELETE FROM audit_log WHERE id < 100"),
    safe("AS304-delete-with-where", "AS304", "DELETE FROM sessions WHERE expires_at < now()"),
    safe(
        "AS304-delete-op-with-where",
        "AS304",
        lambda: [DeleteRowsOp("sessions", has_where=True)],
    ),
    safe(
        "AS401-create-index-concurrently-in-autocommit",
        "AS401",
        lambda: [
            ops.CreateIndexOp("ix_users_email", "users", ["email"], postgresql_concurrently=True)
        ],
        kwargs={"autocommit": True},
    ),
    safe(
        "AS401-sql-reindex-concurrently-in-autocommit",
        "AS401",
        "REINDEX TABLE CONCURRENTLY users",
        kwargs={"autocommit": True},
    ),
    safe("AS401-plain-reindex", "AS401", "REINDEX TABLE users", clean=False),
    safe(
        "AS501-update-with-where",
        "AS501",
        "UPDATE products SET sku = upper(sku) WHERE id < 5000",
        clean=False,
    ),
    safe(
        "AS502-keyset-batch-with-bound-parameters",
        "AS502",
        "UPDATE products SET sku = upper(sku) WHERE sku <> upper(sku) AND id > :last "
        "AND id <= :upto",
    ),
    safe(
        "AS502-limit-subquery",
        "AS502",
        "UPDATE products SET sku = upper(sku) WHERE id IN "
        "(SELECT id FROM products WHERE sku IS NULL ORDER BY id LIMIT 5000)",
    ),
    safe(
        "AS502-update-without-where-is-only-AS501",
        "AS502",
        "UPDATE products SET sku = upper(sku)",
        clean=False,
    ),
    safe(
        "AS112-reindex-concurrently-in-autocommit",
        "AS112",
        "REINDEX TABLE CONCURRENTLY users",
        kwargs={"autocommit": True},
    ),
    safe("AS112-vacuum-is-not-reindex", "AS112", "VACUUM users", kwargs={"autocommit": True}),
    safe(
        "AS501-update-op-with-where",
        "AS501",
        lambda: [UpdateRowsOp("products", has_where=True)],
        clean=False,
    ),
    safe("AS901-valid-select", "AS901", "SELECT 1"),
    safe(
        "AS901-driver-placeholders-and-casts",
        "AS901",
        "SELECT * FROM orders WHERE id = %(id)s AND ref = :ref AND doc = '{}'::jsonb",
    ),
    safe("AS901-dollar-quoting", "AS901", "DO $$ BEGIN PERFORM 1; END $$"),
    safe("AS901-empty-sql", "AS901", "   "),
]


@pytest.mark.parametrize("case", SAFE)
def test_safe_counterpart(case: Safe) -> None:
    findings = run(case.source, **case.kwargs)
    assert case.code not in codes(findings), [(f.code, f.message) for f in findings]
    if case.clean:
        assert findings == []


# -- new tables -----------------------------------------------------------------------------


def _new_table_cases() -> list[Any]:
    cases = []
    for param in DANGEROUS_OPS:
        case: Danger = param.values[0]
        if case.table is None or param.marks:
            continue
        cases.append(pytest.param(case, id=f"{param.id}-on-new-table"))
    return cases


@pytest.mark.parametrize("case", _new_table_cases())
def test_new_table_exemption(case: Danger) -> None:
    assert not isinstance(case.source, str)
    findings = lint_ops(case.source(), new_tables={case.table or ""})
    if case.code in STILL_FIRE_ON_NEW_TABLES:
        assert codes(findings) == [case.code]
        assert only(findings, case.code).table == case.table
    else:
        assert findings == [], [(f.code, f.message) for f in findings]


@pytest.mark.parametrize(
    ("source", "silent"),
    [
        pytest.param(
            lambda: [
                ops.CreateTableOp("orders", [sa.Column("id", sa.BigInteger(), primary_key=True)]),
                ops.CreateIndexOp("ix_orders_id", "orders", ["id"]),
                ops.AddColumnOp("orders", sa.Column("status", sa.String(20), nullable=False)),
            ],
            True,
            id="create-table-op-then-index-and-not-null-column",
        ),
        pytest.param(
            "CREATE TABLE orders (id bigint); CREATE INDEX ix ON orders (id); "
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES users (id)",
            True,
            id="sql-create-table-then-index-and-fk",
        ),
        pytest.param(
            "CREATE INDEX ix ON orders (id); CREATE TABLE orders2 (id bigint)",
            False,
            id="sql-index-before-create-table-is-not-exempt",
        ),
    ],
)
def test_table_created_earlier_in_the_same_list_is_new(source: Source, silent: bool) -> None:
    findings = run(source)
    assert (findings == []) is silent, [(f.code, f.table) for f in findings]


# -- version gating: SET NOT NULL after a validated CHECK -------------------------------------

CHECK_NOT_NULL = "status IS NOT NULL"


def _set_not_null() -> ops.AlterColumnOp:
    return ops.AlterColumnOp("orders", "status", modify_nullable=False)


@pytest.mark.parametrize(
    ("make", "target_version", "flagged"),
    [
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", CHECK_NOT_NULL),
                _set_not_null(),
            ],
            15,
            False,
            id="validated-check-pg15",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", CHECK_NOT_NULL),
                _set_not_null(),
            ],
            12,
            False,
            id="validated-check-pg12",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", CHECK_NOT_NULL),
                _set_not_null(),
            ],
            11,
            True,
            id="validated-check-pg11",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp(
                    "ck", "orders", CHECK_NOT_NULL, postgresql_not_valid=True
                ),
                ops.ExecuteSQLOp("ALTER TABLE orders VALIDATE CONSTRAINT ck"),
                _set_not_null(),
            ],
            15,
            False,
            id="not-valid-then-validate",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp(
                    "ck", "orders", CHECK_NOT_NULL, postgresql_not_valid=True
                ),
                _set_not_null(),
            ],
            15,
            True,
            id="not-valid-never-validated",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp(
                    "ck", "orders", CHECK_NOT_NULL, postgresql_not_valid=True
                ),
                ops.ExecuteSQLOp("ALTER TABLE orders VALIDATE CONSTRAINT other_ck"),
                _set_not_null(),
            ],
            15,
            True,
            id="not-valid-then-validate-another-constraint",
        ),
        pytest.param(
            lambda: [_set_not_null(), ops.CreateCheckConstraintOp("ck", "orders", CHECK_NOT_NULL)],
            15,
            True,
            id="check-after-set-not-null",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", "other IS NOT NULL"),
                _set_not_null(),
            ],
            15,
            True,
            id="check-on-another-column",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "customers", CHECK_NOT_NULL),
                _set_not_null(),
            ],
            15,
            True,
            id="check-on-another-table",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", "status IS NOT NULL AND total > 0"),
                _set_not_null(),
            ],
            15,
            True,
            id="check-not-only-not-null",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp("ck", "orders", CHECK_NOT_NULL),
                ops.DropConstraintOp("ck", "orders", type_="check"),
                _set_not_null(),
            ],
            15,
            True,
            id="check-dropped-before-set-not-null",
        ),
    ],
)
def test_set_not_null_after_check(make: OpsFactory, target_version: int, flagged: bool) -> None:
    findings = lint_ops(make(), target_version=target_version)
    assert ("AS104" in codes(findings)) is flagged, [(f.code, f.message) for f in findings]


# -- AS105 type-change matrix ------------------------------------------------------------------


def _alter_type(existing: Any, new: Any, *, before: Sequence[str] = (), **kw: Any) -> OpsFactory:
    def make() -> list[ops.MigrateOperation]:
        return [
            *(ops.ExecuteSQLOp(sql) for sql in before),
            ops.AlterColumnOp("orders", "c", existing_type=existing, modify_type=new, **kw),
        ]

    return make


TYPE_MATRIX = [
    pytest.param(_alter_type(sa.Integer(), sa.BigInteger()), 15, True, id="integer-to-bigint"),
    pytest.param(_alter_type(sa.String(20), sa.String(10)), 15, True, id="varchar20-to-varchar10"),
    pytest.param(_alter_type(sa.Text(), sa.String(10)), 15, True, id="text-to-varchar10"),
    pytest.param(_alter_type(sa.String(20), sa.String(50)), 15, False, id="varchar20-to-varchar50"),
    pytest.param(_alter_type(sa.String(20), sa.Text()), 15, False, id="varchar20-to-text"),
    pytest.param(_alter_type(sa.String(20), sa.String()), 15, False, id="varchar20-to-varchar"),
    pytest.param(_alter_type(sa.Text(), sa.String()), 15, False, id="text-to-varchar"),
    pytest.param(
        _alter_type(sa.Numeric(10, 2), sa.Numeric(12, 2)), 15, False, id="numeric10_2-to-12_2"
    ),
    pytest.param(
        _alter_type(sa.Numeric(10, 2), sa.Numeric(12, 4)), 15, True, id="numeric10_2-to-12_4"
    ),
    pytest.param(
        _alter_type(sa.Numeric(10, 2), sa.Numeric(8, 2)), 15, True, id="numeric10_2-to-8_2"
    ),
    pytest.param(_alter_type(sa.Numeric(10, 2), sa.Numeric()), 15, False, id="numeric-to-numeric"),
    pytest.param(
        _alter_type(sa.DateTime(), sa.DateTime(timezone=True)),
        15,
        True,
        id="timestamp-to-timestamptz-no-set",
    ),
    pytest.param(
        _alter_type(sa.DateTime(), sa.DateTime(timezone=True), before=[UTC]),
        15,
        False,
        id="timestamp-to-timestamptz-utc-pg15",
    ),
    pytest.param(
        _alter_type(sa.DateTime(), sa.DateTime(timezone=True), before=[UTC]),
        12,
        False,
        id="timestamp-to-timestamptz-utc-pg12",
    ),
    pytest.param(
        _alter_type(sa.DateTime(), sa.DateTime(timezone=True), before=[UTC]),
        11,
        True,
        id="timestamp-to-timestamptz-utc-pg11",
    ),
    pytest.param(
        _alter_type(sa.DateTime(), sa.DateTime(timezone=True), before=["SET TIME ZONE 'UTC'"]),
        15,
        False,
        id="timestamp-to-timestamptz-set-time-zone-utc",
    ),
    pytest.param(
        _alter_type(postgresql.TIMESTAMP(timezone=True), postgresql.TIMESTAMP(), before=[UTC]),
        15,
        False,
        id="timestamptz-to-timestamp-utc",
    ),
    pytest.param(
        _alter_type(
            sa.DateTime(),
            sa.DateTime(timezone=True),
            before=["SET timezone = 'Europe/Paris'"],
        ),
        15,
        True,
        id="timestamp-to-timestamptz-paris",
    ),
    pytest.param(
        _alter_type(
            sa.DateTime(),
            sa.DateTime(timezone=True),
            before=[UTC, "SET timezone = 'Europe/Paris'"],
        ),
        15,
        True,
        id="timestamp-to-timestamptz-utc-then-paris",
    ),
    pytest.param(
        _alter_type(sa.String(20), sa.String(50), postgresql_using="upper(c)"),
        15,
        True,
        id="using-clause-expression",
    ),
    pytest.param(
        _alter_type(sa.Integer(), sa.Integer(), postgresql_using="c + 1"),
        15,
        True,
        id="using-clause-same-type",
    ),
    pytest.param(
        _alter_type(sa.String(20), sa.String(50), postgresql_using="c::varchar(50)"),
        15,
        False,
        id="using-clause-binary-cast",
    ),
    pytest.param(_alter_type(None, sa.String(50)), 15, True, id="no-existing-type"),
]


@pytest.mark.parametrize(("make", "target_version", "flagged"), TYPE_MATRIX)
def test_type_change_matrix(make: OpsFactory, target_version: int, flagged: bool) -> None:
    findings = lint_ops(make(), target_version=target_version)
    assert ("AS105" in codes(findings)) is flagged, [(f.code, f.message) for f in findings]
    assert set(codes(findings)) <= {"AS105"}
    if flagged:
        assert_help_is_code(only(findings, "AS105").help)


def test_type_change_without_existing_type_says_so() -> None:
    findings = lint_ops([ops.AlterColumnOp("orders", "c", modify_type=sa.String(50))])
    assert "existing_type" in only(findings, "AS105").message


# -- AS102 volatile defaults ------------------------------------------------------------------

VOLATILE = [
    ("random", sa.text("random()"), True),
    ("gen_random_uuid", sa.text("gen_random_uuid()"), True),
    ("clock_timestamp", sa.text("clock_timestamp()"), True),
    ("nextval", sa.text("nextval('s')"), True),
    ("uuid_generate_v4", sa.text("uuid_generate_v4()"), True),
    ("func-gen_random_uuid-object", sa.func.gen_random_uuid(), True),
    ("unknown-user-function", sa.text("my_fn()"), True),
    ("volatile-inside-expression", sa.text("(random() * 100)::int"), True),
    ("now", sa.text("now()"), False),
    ("func-now-object", sa.func.now(), False),
    ("current_timestamp", sa.text("CURRENT_TIMESTAMP"), False),
    ("string-literal", "abc", False),
    ("text-0", sa.text("0"), False),
    ("jsonb-literal", sa.text("'{}'::jsonb"), False),
    ("timezone-utc-now", sa.text("timezone('utc', now())"), False),
]


@pytest.mark.parametrize(
    ("default", "flagged"),
    [pytest.param(default, flagged, id=case_id) for case_id, default, flagged in VOLATILE],
)
def test_volatile_default_matrix(default: Any, flagged: bool) -> None:
    findings = lint_ops(
        [ops.AddColumnOp("orders", sa.Column("c", sa.String(), server_default=default))]
    )
    assert codes(findings) == (["AS102"] if flagged else [])


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("ALTER TABLE orders ADD COLUMN c bigserial", ["AS102"], id="bigserial"),
        pytest.param("ALTER TABLE orders ADD COLUMN c serial", ["AS102"], id="serial"),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c int GENERATED ALWAYS AS IDENTITY",
            ["AS103"],
            id="identity-always",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c bigint GENERATED BY DEFAULT AS IDENTITY",
            ["AS103"],
            id="identity-by-default",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c int GENERATED ALWAYS AS (a*2) STORED",
            ["AS103"],
            id="generated-stored",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c float8 DEFAULT random()",
            ["AS102"],
            id="random-default",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c timestamptz DEFAULT clock_timestamp()",
            ["AS102"],
            id="clock-timestamp-default",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c timestamptz DEFAULT CURRENT_TIMESTAMP",
            [],
            id="current-timestamp-default",
        ),
        pytest.param(
            "ALTER TABLE orders ADD COLUMN c jsonb NOT NULL DEFAULT '{}'::jsonb",
            [],
            id="jsonb-literal-default",
        ),
    ],
)
def test_sql_column_defaults(sql: str, expected: list[str]) -> None:
    assert codes(lint_sql(sql)) == expected


@pytest.mark.parametrize(
    ("target_version", "flagged"),
    [
        pytest.param(11, True, id="pg11"),
        pytest.param(15, True, id="pg15"),
        pytest.param(
            10,
            True,
            id="pg10",
        ),
    ],
)
def test_volatile_default_version_gating(target_version: int, flagged: bool) -> None:
    findings = lint_sql(
        "ALTER TABLE orders ADD COLUMN c float8 DEFAULT random()", target_version=target_version
    )
    assert ("AS102" in codes(findings)) is flagged


# -- data statements ---------------------------------------------------------------------------


def test_update_without_where_is_high() -> None:
    finding = only(lint_sql("UPDATE t SET a = 1"), "AS501")
    assert (finding.risk, finding.table) == (Risk.HIGH, "t")
    assert finding.escalation


def test_delete_without_where_is_critical() -> None:
    finding = only(lint_sql("DELETE FROM t"), "AS304")
    assert (finding.risk, finding.table) == (Risk.CRITICAL, "t")
    assert finding.escalation


def test_truncate_of_two_tables_gives_two_findings() -> None:
    findings = lint_sql("TRUNCATE a, b CASCADE")
    assert [(f.code, f.table, f.risk) for f in findings] == [
        ("AS303", "a", Risk.CRITICAL),
        ("AS303", "b", Risk.CRITICAL),
    ]
    assert all("CASCADE" in f.message for f in findings)


def test_drop_of_two_tables_gives_two_findings() -> None:
    findings = lint_sql("DROP TABLE a, b")
    assert [(f.code, f.table, f.risk) for f in findings] == [
        ("AS302", "a", Risk.CRITICAL),
        ("AS302", "b", Risk.CRITICAL),
    ]


def test_new_table_exemption_is_per_table() -> None:
    findings = lint_sql("TRUNCATE a, b", new_tables={"a"})
    assert [(f.code, f.table) for f in findings] == [("AS303", "b")]


def test_delete_in_cte_is_flagged() -> None:
    findings = lint_sql(
        "WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone"
    )
    assert "AS304" in codes(findings)


# -- AS901 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABEL x",
        "SELECT $$unterminated",
        "{{ template_placeholder }}",
        "CREATE TABLE orders (",
        "ALTER TABLE orders ADD COLUMN c int;;; garbage",
        "CREATE TABLE `mysql_style` (id int)",
    ],
)
def test_unparseable_sql_is_reported_never_raised(sql: str) -> None:
    findings = lint_sql(sql)
    assert codes(findings) == ["AS901"]
    assert findings[0].risk == Risk.MEDIUM


# -- what Alembic renders for add_column, beyond the column itself -----------------------------


def test_add_integer_primary_key_column_is_a_serial_rewrite() -> None:
    # Alembic renders this as ADD COLUMN id SERIAL NOT NULL: a nextval default, a full rewrite.
    findings = lint_ops(
        [ops.AddColumnOp("orders", sa.Column("id", sa.Integer(), primary_key=True))]
    )
    assert "AS102" in codes(findings)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            lambda: [ops.AddColumnOp("users", sa.Column("email", sa.Text(), unique=True))],
            id="op-column-unique-true",
        ),
        pytest.param(
            "ALTER TABLE users ADD COLUMN email text UNIQUE",
            id="sql-inline-unique",
        ),
    ],
)
def test_unique_column_builds_an_index(source: Source) -> None:
    # Alembic renders unique=True as ALTER TABLE users ADD UNIQUE (email).
    assert "AS110" in codes(run(source))


def test_indexed_column_builds_an_index() -> None:
    # Alembic renders index=True as a plain CREATE INDEX ix_users_email ON users (email).
    findings = lint_ops([ops.AddColumnOp("users", sa.Column("email", sa.Text(), index=True))])
    assert "AS106" in codes(findings)


# -- CONCURRENTLY in multi-statement SQL and help text -----------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(
            "CREATE INDEX CONCURRENTLY ix_a ON orders (a); "
            "CREATE INDEX CONCURRENTLY ix_b ON orders (b)",
            id="two-concurrent-builds",
        ),
        pytest.param(
            "SET lock_timeout = '5s'; CREATE INDEX CONCURRENTLY ix_a ON orders (a)",
            id="set-then-concurrent-build",
        ),
    ],
)
def test_concurrently_in_multi_statement_sql_fails_even_in_autocommit(sql: str) -> None:
    assert "AS401" in codes(lint_sql(sql, autocommit=True))


def test_expression_index_help_keeps_the_expression() -> None:
    finding = only(lint_sql("CREATE INDEX ix_users_lower_email ON users (lower(email))"), "AS106")
    assert 'sa.text("lower(email)")' in finding.help


def test_serial_help_creates_its_sequence() -> None:
    finding = only(lint_sql("ALTER TABLE orders ADD COLUMN c bigserial"), "AS102")
    assert "CREATE SEQUENCE" in finding.help or "sa.Sequence(" in finding.help


# -- schema-qualified tables ----------------------------------------------------------------

SCHEMA = "shop"

SCHEMA_OPS: dict[str, OpsFactory] = {
    "AS101": lambda: [
        ops.AddColumnOp("orders", sa.Column("status", sa.String(20), nullable=False), schema=SCHEMA)
    ],
    "AS102": lambda: [
        ops.AddColumnOp(
            "users",
            sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()")),
            schema=SCHEMA,
        )
    ],
    "AS103": lambda: [
        ops.AddColumnOp(
            "orders", sa.Column("total", sa.Integer(), sa.Computed("a * 2")), schema=SCHEMA
        )
    ],
    "AS104": lambda: [ops.AlterColumnOp("orders", "status", modify_nullable=False, schema=SCHEMA)],
    "AS105": lambda: [
        ops.AlterColumnOp(
            "orders",
            "qty",
            existing_type=sa.Integer(),
            modify_type=sa.BigInteger(),
            schema=SCHEMA,
        )
    ],
    "AS106": lambda: [ops.CreateIndexOp("ix_orders_status", "orders", ["status"], schema=SCHEMA)],
    "AS107": lambda: [ops.DropIndexOp("ix_orders_status", table_name="orders", schema=SCHEMA)],
    "AS108": lambda: [
        ops.CreateForeignKeyOp(
            "fk_orders_user",
            "orders",
            "users",
            ["user_id"],
            ["id"],
            source_schema=SCHEMA,
            referent_schema=SCHEMA,
        )
    ],
    "AS109": lambda: [
        ops.CreateCheckConstraintOp("ck_orders_total", "orders", "total >= 0", schema=SCHEMA)
    ],
    "AS110": lambda: [
        ops.CreateUniqueConstraintOp("uq_orders_ref", "orders", ["ref"], schema=SCHEMA)
    ],
    "AS111": lambda: [ops.CreatePrimaryKeyOp("pk_orders", "orders", ["id"], schema=SCHEMA)],
    "AS202": lambda: [ops.RenameTableOp("orders", "purchases", schema=SCHEMA)],
    "AS301": lambda: [ops.DropColumnOp("orders", "status", schema=SCHEMA)],
    "AS302": lambda: [ops.DropTableOp("orders", schema=SCHEMA)],
}


@pytest.mark.parametrize("code", list(SCHEMA_OPS))
def test_schema_qualified_help_compiles(code: str) -> None:
    finding = only(lint_ops(SCHEMA_OPS[code]()), code)
    assert finding.table == "orders" or finding.table == "users"
    assert_help_is_code(finding.help)


@pytest.mark.parametrize("code", list(SCHEMA_OPS))
def test_schema_qualified_help_keeps_the_schema(code: str) -> None:
    finding = only(lint_ops(SCHEMA_OPS[code]()), code)
    calls = [
        line
        for line in finding.help.splitlines()
        if re.match(r"\s*op\.\w+\(", line) and not line.lstrip().startswith("#")
    ]
    assert calls, finding.help
    for line in calls:
        assert SCHEMA in line, f"schema lost in: {line}"


# -- rollbacks in downgrade() (revision files in tests/data/precision/) ------------------------

PRECISION = Path(__file__).resolve().parent / "data" / "precision"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        pytest.param(
            "a2_rollback_drop_column.py",
            [("AS301", "downgrade", "orders")],
            id="drop-own-column-is-a-rollback-other-column-is-not",
        ),
        pytest.param(
            "a3_rollback_drop_table.py",
            [("AS302", "downgrade", "legacy_events")],
            id="drop-own-table-is-a-rollback-other-table-is-not",
        ),
        pytest.param(
            "a1_rollback_drop_index.py",
            [("AS107", "downgrade", "orders")],
            id="drop-own-index-on-existing-table-still-locks-it",
        ),
    ],
)
def test_rollback_exemption(filename: str, expected: list[tuple[str, str, str]]) -> None:
    report = assess_revision(PRECISION / filename)
    assert report.error is None, report.error
    assert [(f.code, f.direction, f.table) for f in scoped(report.findings)] == expected
