"""Maintenance, storage, partition and trigger rules (AS112-AS121), through the public API.

Each rule gets: its dangerous forms (exactly its code, on the right table, at the right risk, with
help in the user's own names that compiles as Python), safe counterparts (no finding at all),
version gating, the new-table exemption, and the Alembic op forms where Alembic has an op. The
lock/rewrite claims themselves are proved on PostgreSQL by tests/test_rule_verification.py.

Gaps that need a change in a shared module are kept as ``xfail(strict=True, reason="NEEDS: ...")``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.ddl.postgresql import CreateExcludeConstraintOp
from alembic.operations import ops
from conftest import Project, line_of

from alembic_safety.analysis.ops import MaintenanceOp
from alembic_safety.engine import Analyzer
from alembic_safety.loading import load_history
from alembic_safety.risk import Finding, Risk, assess_operations, assess_revision, assess_sql
from alembic_safety.rules import registry

OpsFactory = Callable[[], list[ops.MigrateOperation]]
Source = OpsFactory | str

CODES = ("AS112", "AS113", "AS114", "AS115", "AS116", "AS117", "AS118", "AS119", "AS120", "AS121")
DOWNTIME = "needs downtime: blocks all access to the table while it rewrites it"

ATTACH_2024 = (
    "ALTER TABLE measurements ATTACH PARTITION measurements_2024 "
    "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
)
BOUND_CHECK = (
    "ALTER TABLE measurements_2024 ADD CONSTRAINT measurements_2024_bound "
    "CHECK (created_at >= '2024-01-01' AND created_at < '2025-01-01')"
)
CREATE_TRIGGER = (
    "CREATE TRIGGER orders_audit AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit_row()"
)


def run(source: Source, **kwargs: Any) -> list[Finding]:
    if isinstance(source, str):
        return assess_sql(source, **kwargs)
    return assess_operations(source(), **kwargs)


def codes(findings: Sequence[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def described(findings: Sequence[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in findings]


def mine(findings: Sequence[Finding]) -> list[Finding]:
    """Only the findings of the rules under test (revision-level rules also report on files)."""
    return [f for f in findings if f.code in CODES]


def needs(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"NEEDS: {reason}")


# -- the registry entries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "risk", "lock", "rewrites", "versions", "escalation"),
    [
        ("AS112", "reindex-non-concurrently", Risk.HIGH, "SHARE", False, "all", None),
        ("AS113", "vacuum-full", Risk.CRITICAL, "ACCESS EXCLUSIVE", True, "all", DOWNTIME),
        ("AS114", "cluster", Risk.CRITICAL, "ACCESS EXCLUSIVE", True, "all", DOWNTIME),
        ("AS115", "lock-table", Risk.HIGH, "ACCESS EXCLUSIVE", False, "all", None),
        ("AS116", "set-logged-unlogged", Risk.HIGH, "ACCESS EXCLUSIVE", True, "all", None),
        ("AS117", "set-tablespace", Risk.HIGH, "ACCESS EXCLUSIVE", True, "all", None),
        ("AS118", "add-exclusion-constraint", Risk.HIGH, "ACCESS EXCLUSIVE", False, "all", None),
        (
            "AS119",
            "attach-partition-without-check",
            Risk.MEDIUM,
            "ACCESS EXCLUSIVE",
            False,
            "all",
            None,
        ),
        (
            "AS120",
            "detach-partition-non-concurrently",
            Risk.MEDIUM,
            "ACCESS EXCLUSIVE",
            False,
            ">= 14",
            None,
        ),
        (
            "AS121",
            "trigger-on-existing-table",
            Risk.MEDIUM,
            "SHARE ROW EXCLUSIVE",
            False,
            "all",
            None,
        ),
    ],
)
def test_registry_entry(
    code: str,
    name: str,
    risk: Risk,
    lock: str,
    rewrites: bool,
    versions: str,
    escalation: str | None,
) -> None:
    rule = registry.get(code)
    assert rule is not None
    assert (rule.name, rule.risk, rule.lock, rule.rewrites) == (name, risk, lock, rewrites)
    assert rule.versions() == versions
    assert rule.escalation == escalation
    assert rule.verification is not None
    assert rule.fixable is False


def test_attach_verification_observes_the_partition() -> None:
    """AS119's ACCESS EXCLUSIVE is on the scanned partition; the parent gets SHARE UPDATE
    EXCLUSIVE (proved in test_rule_verification.py on relation t_2024)."""
    rule = registry.get("AS119")
    assert rule is not None
    assert rule.verification is not None
    assert rule.verification.relation == "t_2024"
    assert "ATTACH PARTITION t_2024" in rule.verification.statement


# -- dangerous forms --------------------------------------------------------------------------


@dataclass(frozen=True)
class Danger:
    """``source`` gives exactly one finding, of ``code``, on ``table`` at ``risk``."""

    code: str
    source: Source
    table: str | None
    risk: Risk | None = None
    #: Text the help must contain (the user's names, the safe statement).
    in_help: tuple[str, ...] = ()
    #: Text the message must contain.
    in_message: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def danger(case_id: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Danger(*args, **kwargs), id=case_id)


DANGERS = [
    # AS112 reindex-non-concurrently
    danger(
        "AS112-reindex-table",
        "AS112",
        "REINDEX TABLE users",
        "users",
        in_help=("autocommit_block()", 'op.execute("REINDEX TABLE CONCURRENTLY users")'),
        in_message=("SHARE", "ACCESS EXCLUSIVE"),
    ),
    danger(
        "AS112-reindex-table-in-autocommit",
        "AS112",
        "REINDEX (VERBOSE) TABLE shop.users",
        "users",
        in_help=("REINDEX TABLE CONCURRENTLY shop.users",),
        kwargs={"autocommit": True},
    ),
    danger(
        "AS112-reindex-schema",
        "AS112",
        "REINDEX SCHEMA app",
        None,
        in_help=("REINDEX SCHEMA CONCURRENTLY app",),
        in_message=("cannot run inside Alembic's transaction",),
    ),
    danger(
        "AS112-reindex-system",
        "AS112",
        "REINDEX SYSTEM",
        None,
        in_message=("no CONCURRENTLY form",),
        kwargs={"autocommit": True},
    ),
    danger(
        "AS112-maintenance-op",
        "AS112",
        lambda: [MaintenanceOp("REINDEX", "users")],
        "users",
        in_help=("REINDEX TABLE CONCURRENTLY users",),
    ),
    # AS113 vacuum-full
    danger(
        "AS113-vacuum-full-in-autocommit",
        "AS113",
        "VACUUM FULL events",
        "events",
        in_help=("VACUUM (ANALYZE) events", "pg_repack", "pg_squeeze"),
        in_message=("ACCESS EXCLUSIVE",),
        kwargs={"autocommit": True},
    ),
    danger(
        "AS113-vacuum-full-in-transaction-also-fails",
        "AS113",
        "VACUUM (FULL, ANALYZE) events",
        "events",
        in_help=("events",),
        in_message=("cannot run inside a transaction block",),
    ),
    danger(
        "AS113-vacuum-full-whole-database",
        "AS113",
        "VACUUM FULL",
        None,
        in_message=("every table",),
        kwargs={"autocommit": True},
    ),
    # AS114 cluster
    danger(
        "AS114-cluster-using",
        "AS114",
        "CLUSTER events USING ix_events_created_at",
        "events",
        in_help=('op.execute("ALTER TABLE events CLUSTER ON ix_events_created_at")', "pg_repack"),
        in_message=("ACCESS EXCLUSIVE",),
    ),
    danger(
        "AS114-cluster-table",
        "AS114",
        "CLUSTER shop.events",
        "events",
        in_help=("--table=shop.events", "pg_squeeze"),
    ),
    danger(
        "AS114-cluster-everything",
        "AS114",
        "CLUSTER",
        None,
        in_message=("every previously clustered table", "fails"),
    ),
    # AS115 lock-table
    danger(
        "AS115-lock-table-default-mode",
        "AS115",
        "LOCK TABLE accounts",
        "accounts",
        in_help=("lock_timeout", "accounts"),
        in_message=("ACCESS EXCLUSIVE", "every read and write"),
    ),
    danger(
        "AS115-lock-share",
        "AS115",
        "LOCK TABLE accounts IN SHARE MODE",
        "accounts",
        in_message=("IN SHARE MODE", "INSERT, UPDATE and DELETE"),
    ),
    danger(
        "AS115-lock-share-row-exclusive",
        "AS115",
        "LOCK accounts IN SHARE ROW EXCLUSIVE MODE",
        "accounts",
        in_message=("SHARE ROW EXCLUSIVE",),
    ),
    danger(
        "AS115-lock-exclusive",
        "AS115",
        "LOCK TABLE accounts IN EXCLUSIVE MODE NOWAIT",
        "accounts",
        in_message=("IN EXCLUSIVE MODE", "only plain reads continue"),
    ),
    # AS116 set-logged-unlogged
    danger(
        "AS116-set-logged",
        "AS116",
        "ALTER TABLE import_staging SET LOGGED",
        "import_staging",
        in_help=('op.create_table("import_staging_new", ...)',),
        in_message=("rewrites", "ACCESS EXCLUSIVE", "WAL"),
    ),
    danger(
        "AS116-set-unlogged",
        "AS116",
        "ALTER TABLE shop.events SET UNLOGGED",
        "events",
        in_help=('op.create_table("events_new", ..., prefixes=["UNLOGGED"], schema="shop")',),
        in_message=("replicas",),
    ),
    # AS117 set-tablespace
    danger(
        "AS117-set-tablespace",
        "AS117",
        "ALTER TABLE events SET TABLESPACE archive",
        "events",
        in_help=("pg_repack --table=events --tablespace=archive",),
        in_message=("copies the whole table", "ACCESS EXCLUSIVE"),
    ),
    # AS118 add-exclusion-constraint
    danger(
        "AS118-sql",
        "AS118",
        "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap "
        "EXCLUDE USING gist (during WITH &&)",
        "bookings",
        in_help=("lock_timeout", "bookings"),
        in_message=("bookings_no_overlap", "NOT VALID"),
    ),
    danger(
        "AS118-sql-unnamed",
        "AS118",
        "ALTER TABLE bookings ADD EXCLUDE USING gist (during WITH &&)",
        "bookings",
    ),
    danger(
        "AS118-create-exclude-constraint-op",
        "AS118",
        lambda: [
            CreateExcludeConstraintOp(
                "bookings_no_overlap", "bookings", [("during", "&&")], using="gist"
            )
        ],
        "bookings",
        in_help=("bookings",),
        in_message=("bookings_no_overlap",),
    ),
    # AS119 attach-partition-without-check
    danger(
        "AS119-attach-range",
        "AS119",
        ATTACH_2024,
        "measurements_2024",
        in_help=(
            'op.create_check_constraint("measurements_2024_bound", "measurements_2024", '
            "\"<key> IS NOT NULL AND <key> >= '2024-01-01' AND <key> < '2025-01-01'\", "
            "postgresql_not_valid=True)",
            "VALIDATE CONSTRAINT measurements_2024_bound",
            ATTACH_2024,
            'op.drop_constraint("measurements_2024_bound", "measurements_2024")',
        ),
        in_message=("ACCESS EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "measurements"),
    ),
    danger(
        "AS119-attach-list",
        "AS119",
        "ALTER TABLE orders ATTACH PARTITION orders_eu FOR VALUES IN ('de', 'fr')",
        "orders_eu",
        in_help=("<key> IS NOT NULL AND <key> IN ('de', 'fr')",),
    ),
    danger(
        "AS119-attach-default",
        "AS119",
        "ALTER TABLE orders ATTACH PARTITION orders_other DEFAULT",
        "orders_other",
        in_help=("DEFAULT partition", "<condition implying the partition bound>"),
    ),
    danger(
        "AS119-not-valid-check-is-not-enough",
        "AS119",
        lambda: [
            ops.ExecuteSQLOp(BOUND_CHECK + " NOT VALID"),
            ops.ExecuteSQLOp(ATTACH_2024),
        ],
        "measurements_2024",
    ),
    danger(
        "AS119-check-on-another-table-does-not-count",
        "AS119",
        lambda: [
            ops.CreateCheckConstraintOp(
                "ck_x", "measurements_2023", sa.text("created_at > '2023-01-01'")
            ),
            ops.ExecuteSQLOp(ATTACH_2024),
        ],
        "measurements_2024",
        kwargs={"new_tables": {"measurements_2023"}},
    ),
    # AS120 detach-partition-non-concurrently
    danger(
        "AS120-detach",
        "AS120",
        "ALTER TABLE measurements DETACH PARTITION measurements_2019",
        "measurements",
        in_help=(
            "with op.get_context().autocommit_block():\n"
            '    op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2019 '
            'CONCURRENTLY")',
        ),
        in_message=("ACCESS EXCLUSIVE",),
    ),
    danger(
        "AS120-detach-concurrently-in-transaction",
        "AS120",
        "ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY",
        "measurements",
        in_help=("autocommit_block()", "CONCURRENTLY"),
        in_message=("cannot run inside a transaction block",),
    ),
    # AS121 trigger-on-existing-table
    danger(
        "AS121-create-trigger",
        "AS121",
        CREATE_TRIGGER,
        "orders",
        in_help=("SET LOCAL lock_timeout",),
        in_message=("orders_audit", "SHARE ROW EXCLUSIVE"),
    ),
    danger(
        "AS121-create-or-replace-trigger",
        "AS121",
        CREATE_TRIGGER.replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER"),
        "orders",
    ),
    danger(
        "AS121-drop-trigger",
        "AS121",
        "DROP TRIGGER IF EXISTS orders_audit ON shop.orders",
        "orders",
        in_message=("ACCESS EXCLUSIVE", "every read and write"),
    ),
    danger(
        "AS121-lock-timeout-disabled",
        "AS121",
        "SET lock_timeout = 0; " + CREATE_TRIGGER,
        "orders",
    ),
]


@pytest.mark.parametrize("case", DANGERS)
def test_dangerous(case: Danger) -> None:
    findings = run(case.source, **case.kwargs)
    assert codes(findings) == [case.code], described(findings)
    (finding,) = findings
    rule = registry.get(case.code)
    assert rule is not None
    assert finding.name == rule.name
    assert finding.table == case.table
    assert finding.risk == (case.risk or rule.risk)
    assert finding.escalation == rule.escalation
    assert finding.direction == "upgrade"
    for text in case.in_help:
        assert text in finding.help, f"{text!r} not in help:\n{finding.help}"
    for text in case.in_message:
        assert text in finding.message, f"{text!r} not in message: {finding.message}"
    compile(finding.help, "<help>", "exec")


def test_lock_table_reports_each_table() -> None:
    findings = assess_sql("LOCK TABLE accounts, ledger IN SHARE MODE")
    assert [(f.code, f.table) for f in findings] == [("AS115", "accounts"), ("AS115", "ledger")]


def test_reindex_index_names_the_index() -> None:
    (finding,) = assess_sql("REINDEX INDEX ix_users_email")
    assert finding.code == "AS112"
    assert 'op.execute("REINDEX INDEX CONCURRENTLY ix_users_email")' in finding.help
    assert "ix_users_email" in finding.message


def test_reindex_index_created_in_this_revision_reports_its_table() -> None:
    findings = assess_operations(
        [
            ops.CreateIndexOp("ix_users_email", "users", ["email"]),
            ops.ExecuteSQLOp("REINDEX INDEX ix_users_email"),
        ]
    )
    reindex = [f for f in findings if f.code == "AS112"]
    assert [f.table for f in reindex] == ["users"]


def test_reindex_index_of_an_unknown_table_has_no_table() -> None:
    (finding,) = assess_sql("REINDEX INDEX ix_users_email")
    assert finding.table is None


# -- safe counterparts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kwargs"),
    [
        pytest.param(
            "REINDEX TABLE CONCURRENTLY users", {"autocommit": True}, id="AS112-concurrently"
        ),
        pytest.param(
            "REINDEX (CONCURRENTLY) INDEX ix_users_email", {"autocommit": True}, id="AS112-option"
        ),
        pytest.param("VACUUM events", {"autocommit": True}, id="AS113-plain-vacuum"),
        pytest.param("VACUUM (ANALYZE, VERBOSE) events", {"autocommit": True}, id="AS113-analyze"),
        pytest.param("ANALYZE events", {}, id="AS113-analyze-in-transaction"),
        pytest.param(
            "ALTER TABLE events CLUSTER ON ix_events_created_at", {}, id="AS114-cluster-on-only"
        ),
        pytest.param("LOCK TABLE accounts IN ROW EXCLUSIVE MODE", {}, id="AS115-row-exclusive"),
        pytest.param("LOCK TABLE accounts IN ACCESS SHARE MODE", {}, id="AS115-access-share"),
        pytest.param("LOCK TABLE accounts IN ROW SHARE MODE", {}, id="AS115-row-share"),
        pytest.param(
            "LOCK TABLE accounts IN SHARE UPDATE EXCLUSIVE MODE", {}, id="AS115-share-update"
        ),
        pytest.param(
            "ALTER TABLE events SET (fillfactor = 90)", {}, id="AS116-AS117-other-storage"
        ),
        pytest.param(
            "ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY",
            {"autocommit": True},
            id="AS120-concurrently-in-autocommit",
        ),
        pytest.param(
            "SET LOCAL lock_timeout = '2s'; " + CREATE_TRIGGER, {}, id="AS121-after-lock-timeout"
        ),
        pytest.param(
            lambda: [
                ops.ExecuteSQLOp("SET lock_timeout TO '1s'"),
                ops.ExecuteSQLOp("DROP TRIGGER orders_audit ON orders"),
            ],
            {},
            id="AS121-drop-after-lock-timeout",
        ),
    ],
)
def test_safe_counterpart(source: Source, kwargs: dict[str, Any]) -> None:
    findings = run(source, **kwargs)
    assert findings == [], described(findings)


def test_reindex_concurrently_in_a_transaction_is_as401_not_as112() -> None:
    assert codes(assess_sql("REINDEX TABLE CONCURRENTLY users")) == ["AS401"]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            lambda: [ops.ExecuteSQLOp(BOUND_CHECK), ops.ExecuteSQLOp(ATTACH_2024)], id="sql-check"
        ),
        pytest.param(
            lambda: [
                ops.ExecuteSQLOp(BOUND_CHECK + " NOT VALID"),
                ops.ExecuteSQLOp(
                    "ALTER TABLE measurements_2024 VALIDATE CONSTRAINT measurements_2024_bound"
                ),
                ops.ExecuteSQLOp(ATTACH_2024),
            ],
            id="not-valid-then-validate",
        ),
        pytest.param(
            lambda: [
                ops.CreateCheckConstraintOp(
                    "measurements_2024_bound",
                    "measurements_2024",
                    sa.text("created_at >= '2024-01-01' AND created_at < '2025-01-01'"),
                ),
                ops.ExecuteSQLOp(ATTACH_2024),
            ],
            id="create-check-constraint-op",
        ),
        pytest.param(
            lambda: [
                ops.CreateTableOp(
                    "measurements_2024",
                    [sa.Column("created_at", sa.Date(), nullable=False)],
                ),
                ops.ExecuteSQLOp(ATTACH_2024),
            ],
            id="partition-created-in-this-revision",
        ),
    ],
)
def test_attach_partition_after_a_check_is_not_flagged(source: OpsFactory) -> None:
    findings = assess_operations(source())
    assert "AS119" not in codes(findings), described(findings)


# -- versions ---------------------------------------------------------------------------------


def test_reindex_below_12_is_still_flagged_with_the_manual_recipe() -> None:
    (finding,) = assess_sql("REINDEX TABLE users", target_version=11)
    assert finding.code == "AS112"
    assert finding.risk == Risk.HIGH
    assert "no REINDEX CONCURRENTLY" in finding.help
    assert "CREATE INDEX CONCURRENTLY" in finding.help
    assert "REINDEX TABLE CONCURRENTLY" not in finding.help
    compile(finding.help, "<help>", "exec")


def test_reindex_index_below_12_names_the_index() -> None:
    (finding,) = assess_sql("REINDEX INDEX ix_users_email", target_version=11)
    assert 'op.execute("DROP INDEX CONCURRENTLY ix_users_email")' in finding.help
    assert 'op.execute("ALTER INDEX ix_users_email_new RENAME TO ix_users_email")' in finding.help


@pytest.mark.parametrize("version", [11, 12, 13])
def test_detach_below_14_is_not_flagged(version: int) -> None:
    """No concurrent form before 14: the plain DETACH is the only way (catalog-only)."""
    sql = "ALTER TABLE measurements DETACH PARTITION measurements_2019"
    assert assess_sql(sql, target_version=version) == []


@pytest.mark.parametrize("version", [14, 15, 16, 17])
def test_detach_from_14_is_flagged(version: int) -> None:
    sql = "ALTER TABLE measurements DETACH PARTITION measurements_2019"
    assert codes(assess_sql(sql, target_version=version)) == ["AS120"]


def test_attach_below_12_locks_the_parent_and_is_high() -> None:
    (finding,) = assess_sql(ATTACH_2024, target_version=11)
    assert finding.code == "AS119"
    assert finding.risk == Risk.HIGH
    assert 'ACCESS EXCLUSIVE on "measurements"' in finding.message
    (finding_12,) = assess_sql(ATTACH_2024, target_version=12)
    assert finding_12.risk == Risk.MEDIUM
    assert 'SHARE UPDATE EXCLUSIVE on "measurements"' in finding_12.message


# -- tables created in the same revision ------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table", "kwargs"),
    [
        pytest.param("REINDEX TABLE users", "users", {}, id="AS112"),
        pytest.param("VACUUM FULL events", "events", {"autocommit": True}, id="AS113"),
        pytest.param("CLUSTER events USING ix_events_created_at", "events", {}, id="AS114"),
        pytest.param("LOCK TABLE accounts", "accounts", {}, id="AS115"),
        pytest.param("ALTER TABLE import_staging SET LOGGED", "import_staging", {}, id="AS116"),
        pytest.param("ALTER TABLE events SET TABLESPACE archive", "events", {}, id="AS117"),
        pytest.param(
            "ALTER TABLE bookings ADD CONSTRAINT b_x EXCLUDE USING gist (during WITH &&)",
            "bookings",
            {},
            id="AS118",
        ),
        pytest.param(ATTACH_2024, "measurements", {}, id="AS119-new-parent"),
        pytest.param(
            "ALTER TABLE measurements DETACH PARTITION measurements_2019",
            "measurements",
            {},
            id="AS120",
        ),
        pytest.param(CREATE_TRIGGER, "orders", {}, id="AS121"),
        pytest.param("DROP TRIGGER orders_audit ON orders", "orders", {}, id="AS121-drop"),
    ],
)
def test_new_table_exemption(sql: str, table: str, kwargs: dict[str, Any]) -> None:
    assert run(sql, **kwargs) != []
    findings = assess_sql(sql, new_tables={table}, **kwargs)
    assert findings == [], described(findings)


def test_new_table_exemption_from_create_table_in_the_op_list() -> None:
    findings = assess_operations(
        [
            ops.CreateTableOp("orders", [sa.Column("id", sa.BigInteger(), primary_key=True)]),
            ops.ExecuteSQLOp(CREATE_TRIGGER),
            ops.ExecuteSQLOp("LOCK TABLE orders"),
            ops.ExecuteSQLOp("ALTER TABLE orders SET UNLOGGED"),
        ]
    )
    assert findings == [], described(findings)


def test_exclude_constraint_op_on_new_table_is_exempt() -> None:
    findings = assess_operations(
        [CreateExcludeConstraintOp("bookings_no_overlap", "bookings", [("during", "&&")])],
        new_tables={"bookings"},
    )
    assert findings == []


def test_detach_concurrently_in_a_transaction_fails_even_on_a_new_table() -> None:
    sql = "ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY"
    findings = assess_sql(sql, new_tables={"measurements"})
    assert codes(findings) == ["AS120"]
    assert "cannot run inside a transaction block" in findings[0].message


def test_reindex_of_an_index_on_a_new_table_is_exempt() -> None:
    findings = assess_operations(
        [
            ops.CreateTableOp("users", [sa.Column("email", sa.Text())]),
            ops.CreateIndexOp("ix_users_email", "users", ["email"]),
            ops.ExecuteSQLOp("REINDEX INDEX ix_users_email"),
        ]
    )
    assert findings == [], described(findings)


# -- written in a revision file ---------------------------------------------------------------


def test_create_exclude_constraint_in_a_revision_file(project: Project) -> None:
    path = project.revision(
        "a1",
        None,
        """
        op.create_exclude_constraint(
            "bookings_no_overlap", "bookings", ("room_id", "="), ("during", "&&"), using="gist"
        )
        """,
    )
    report = assess_revision(path)
    assert report.error is None, report.error
    line = line_of(path, "op.create_exclude_constraint(")
    assert [(f.code, f.table, f.line) for f in mine(report.findings)] == [
        ("AS118", "bookings", line)
    ]


def test_revision_with_lock_timeout_then_trigger(project: Project) -> None:
    path = project.revision(
        "a1",
        None,
        """
        op.execute("SET LOCAL lock_timeout = '2s'")
        op.execute("CREATE TRIGGER orders_audit AFTER UPDATE ON orders "
                   "FOR EACH ROW EXECUTE FUNCTION audit_row()")
        """,
        """
        op.execute("DROP TRIGGER orders_audit ON orders")
        """,
    )
    report = assess_revision(path)
    assert report.error is None, report.error
    # the upgrade set a lock_timeout; the downgrade did not
    assert [(f.code, f.direction) for f in mine(report.findings)] == [("AS121", "downgrade")]


def test_suppressed_vacuum_full_keeps_no_escalation(project: Project) -> None:
    path = project.revision(
        "a1",
        None,
        """
        with op.get_context().autocommit_block():
            # alembic-safety: ignore[AS113] table is tiny, maintenance window booked
            op.execute("VACUUM FULL events")
        """,
    )
    report = assess_revision(path)
    assert [(f.code, f.suppressed) for f in mine(report.findings)] == [("AS113", True)]
    assert DOWNTIME not in report.reasons
    assert report.risk < Risk.CRITICAL


def test_unsuppressed_vacuum_full_escalates(project: Project) -> None:
    path = project.revision(
        "a1",
        None,
        """
        with op.get_context().autocommit_block():
            op.execute("VACUUM FULL events")
        """,
    )
    report = assess_revision(path)
    assert [f.code for f in mine(report.findings)] == ["AS113"]
    assert report.risk == Risk.CRITICAL
    assert DOWNTIME in report.reasons


# -- gaps that need shared modules --------------------------------------------------------------


def test_vacuum_full_false_is_a_plain_vacuum() -> None:
    assert assess_sql("VACUUM (FULL false) events", autocommit=True) == []


def test_reindex_concurrently_false_is_flagged() -> None:
    assert codes(assess_sql("REINDEX (CONCURRENTLY false) TABLE users")) == ["AS112"]


def test_attach_partition_help_keeps_the_partition_schema() -> None:
    sql = "ALTER TABLE shop.m ATTACH PARTITION archive.m_2024 FOR VALUES FROM (1) TO (2)"
    (finding,) = assess_sql(sql)
    assert "ALTER TABLE archive.m_2024 VALIDATE CONSTRAINT" in finding.help


def test_attach_after_a_check_from_an_earlier_revision(project: Project) -> None:
    first = project.revision("a1", None, f"op.execute({BOUND_CHECK!r} + ' NOT VALID')")
    second = project.revision(
        "a2",
        "a1",
        """
        op.execute("ALTER TABLE measurements_2024 VALIDATE CONSTRAINT measurements_2024_bound")
        """,
    )
    third = project.revision("a3", "a2", f"op.execute({ATTACH_2024!r})")
    history = load_history([first, second, third], [project.versions])
    reports = Analyzer().assess_history(history)
    assert reports
    assert all(r.error is None for r in reports), [r.error for r in reports]
    assert "AS119" not in [f.code for r in reports for f in r.findings]


def test_downgrade_dropping_the_upgrades_trigger_still_locks_the_table(project: Project) -> None:
    """The rollback exemption covers tables and columns the upgrade created, not objects it
    added to a table that already existed: DROP TRIGGER takes ACCESS EXCLUSIVE on ``orders``
    in the downgrade just as CREATE TRIGGER locked it in the upgrade (same policy as DROP INDEX).
    """
    path = project.revision(
        "a1",
        None,
        f"op.execute({CREATE_TRIGGER!r})",
        'op.execute("DROP TRIGGER orders_audit ON orders")',
    )
    report = assess_revision(path)
    assert report.error is None, report.error
    assert [(f.code, f.direction) for f in mine(report.findings)] == [
        ("AS121", "upgrade"),
        ("AS121", "downgrade"),
    ]


def test_every_new_rule_has_a_dangerous_case() -> None:
    assert {p.values[0].code for p in DANGERS} == set(CODES)
