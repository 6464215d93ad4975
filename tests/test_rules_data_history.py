"""Data-migration rules (AS502 to AS505) and history-hygiene rules (AS602 to AS605).

Operation rules are checked through the public API (``assess_sql`` / ``assess_operations``),
dangerous and safe side by side; revision rules through real revision files (``assess_revision``)
and real Alembic projects on disk run through the ``alembic-safety`` command (in process). Every
help that is code must compile, and running it as a revision must not trigger the rule again.

Assertions look only at the codes of the rules under test (and the neighbours they must not
double-report with), so rules added elsewhere do not make these tests brittle. Changes that need
shared files are kept as ``xfail(strict=True, reason="NEEDS: ...")``.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import ops
from conftest import (
    Project,
    findings_of,
    ini_text,
    line_of,
    run_cli,
    run_main,
    write_revision,
    write_scaffold,
)

from alembic_safety.analysis.ops import DeleteRowsOp, UpdateRowsOp
from alembic_safety.loading import load_history
from alembic_safety.risk import Finding, RevisionReport, Risk, assess_operations, assess_revision
from alembic_safety.risk import assess_sql as _assess_sql
from alembic_safety.rules import registry
from alembic_safety.rules.downgrade_mirror import (
    expected_keys,
    keys,
    render,
    reversed_operation,
)
from alembic_safety.rules.revision_file_name_template import template_regex
from alembic_safety.rules.unreachable_revision import UnreachableRevision

MINE = ("AS502", "AS503", "AS504", "AS505", "AS602", "AS603", "AS604", "AS605")
#: Neighbours that must not fire together with the new rules on the same statement.
NEIGHBOURS = ("AS501", "AS304")


def relevant(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.code in MINE + NEIGHBOURS]


def codes(findings: Sequence[Finding]) -> list[str]:
    return sorted(f.code for f in relevant(findings))


def assess_sql(sql: str, **kwargs: Any) -> list[Finding]:
    return relevant(_assess_sql(sql, **kwargs))


def only(findings: Sequence[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, [(f.code, f.message) for f in findings]
    return matching[0]


def compiles(code: str) -> None:
    compile(code, "<help>", "exec")


def revision(
    tmp_path: Path,
    upgrade: str,
    downgrade: str = "pass",
    *,
    rev: str = "a1b2c3d4e5f6",
    module_body: str = "",
) -> Path:
    return write_revision(
        tmp_path / "versions", rev, None, upgrade, downgrade, module_body=module_body
    )


def report_of(path: Path) -> RevisionReport:
    return assess_revision(path)


def mine(report: RevisionReport) -> list[Finding]:
    return relevant(report.findings)


# -- AS502 unbatched-update / AS503 unbatched-delete -----------------------------------------------


@pytest.mark.parametrize(
    ("sql", "code", "table"),
    [
        pytest.param(
            "UPDATE products SET sku = upper(sku) WHERE sku <> upper(sku)",
            "AS502",
            "products",
            id="AS502-update-where",
        ),
        pytest.param(
            "UPDATE shop.products SET sku = NULL WHERE sku = ''",
            "AS502",
            "products",
            id="AS502-schema-qualified",
        ),
        pytest.param(
            "UPDATE orders o SET total = i.sum FROM totals i WHERE o.id = i.order_id",
            "AS502",
            "orders",
            id="AS502-update-from",
        ),
        pytest.param(
            "DELETE FROM sessions WHERE expires_at < now()",
            "AS503",
            "sessions",
            id="AS503-delete-where",
        ),
        pytest.param(
            "DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.deleted",
            "AS503",
            "sessions",
            id="AS503-delete-using",
        ),
    ],
)
def test_unbatched_data_statement_is_medium(sql: str, code: str, table: str) -> None:
    findings = assess_sql(sql)
    assert codes(findings) == [code]
    finding = only(findings, code)
    rule = registry.get(code)
    assert rule is not None
    assert finding.name == rule.name
    assert finding.risk == Risk.MEDIUM
    assert finding.table == table
    assert "not batched" in finding.message
    assert table in finding.help
    compiles(finding.help)
    assert "autocommit_block()" in finding.help
    assert ":last" in finding.help
    assert ":upto" in finding.help


def test_unbatched_help_keeps_the_users_condition_and_alias() -> None:
    finding = only(
        assess_sql("UPDATE orders o SET total = i.sum FROM totals i WHERE o.id = i.order_id"),
        "AS502",
    )
    assert "WHERE o.id = i.order_id" in finding.message
    assert "(o.id = i.order_id) AND o.id > :last AND o.id <= :upto" in finding.help
    returning = only(assess_sql("UPDATE t SET a = 1 WHERE (b) OR c RETURNING id, (a);"), "AS502")
    assert (
        "UPDATE t SET a = 1 WHERE ((b) OR c) AND id > :last AND id <= :upto RETURNING id, (a)"
        in (returning.help)
    )
    delete = only(assess_sql("DELETE FROM sessions WHERE a OR b"), "AS503")
    assert "(a OR b) AND id > :last AND id <= :upto" in delete.help


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("UPDATE products SET sku = upper(sku)", ["AS501"], id="no-where-is-AS501"),
        pytest.param("DELETE FROM sessions", ["AS304"], id="no-where-is-AS304"),
        pytest.param(
            "UPDATE products SET sku = upper(sku) WHERE id IN "
            "(SELECT id FROM products WHERE sku IS NULL ORDER BY id LIMIT 1000)",
            [],
            id="update-limit-subquery",
        ),
        pytest.param(
            "UPDATE products SET sku = upper(sku) WHERE id > :last AND id <= :upto",
            [],
            id="update-keyset-params",
        ),
        pytest.param(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() "
            "LIMIT 5000)",
            [],
            id="delete-limit-subquery",
        ),
        pytest.param("DELETE FROM sessions WHERE id = %(id)s", [], id="delete-bound-parameter"),
    ],
)
def test_batched_or_whole_table_statements_are_not_unbatched(sql: str, expected: list[str]) -> None:
    assert codes(assess_sql(sql)) == expected


def test_unbatched_on_a_new_table_is_not_reported() -> None:
    assert codes(assess_sql("UPDATE t SET a = 1 WHERE a IS NULL", new_tables={"t"})) == []
    assert codes(assess_sql("DELETE FROM t WHERE a IS NULL", new_tables={"t"})) == []


def test_unbatched_from_op_objects() -> None:
    findings = relevant(
        assess_operations(
            [
                UpdateRowsOp("products", has_where=True),
                DeleteRowsOp("sessions", has_where=True),
                UpdateRowsOp("products", has_where=True, batched=True),
                DeleteRowsOp("sessions", has_where=True, batched=True),
            ]
        )
    )
    assert codes(findings) == ["AS502", "AS503"]
    for finding in findings:
        compiles(finding.help)  # the fallback help, without the statement text
        assert "<condition>" in finding.help


def test_unbatched_through_the_bind_is_reported_on_its_line(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        bind = op.get_bind()
        bind.execute(sa.text("UPDATE products SET sku = upper(sku) WHERE sku IS NOT NULL"))
        """,
    )
    finding = only(mine(report_of(path)), "AS502")
    assert finding.line == line_of(path, "bind.execute(")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE products SET sku = upper(sku) WHERE sku <> upper(sku)",
        "DELETE FROM sessions s USING users u WHERE s.user_id = u.id",
    ],
)
def test_unbatched_help_as_a_revision_is_clean(tmp_path: Path, sql: str) -> None:
    (finding,) = assess_sql(sql)
    path = revision(tmp_path, finding.help)
    report = report_of(path)
    assert report.error is None
    # (its downgrade() is empty, so AS603 says the data migration should declare itself)
    assert [c for c in codes(report.findings) if c != "AS603"] == []


# -- AS504 data-and-schema-in-one-transaction ------------------------------------------------------


def test_schema_change_then_data_migration(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.add_column("products", sa.Column("sku_norm", sa.String(64), nullable=True))
        op.execute("UPDATE products SET sku_norm = upper(sku) WHERE sku IS NOT NULL")
        op.execute("DELETE FROM products WHERE sku = ''")
        """,
    )
    finding = only(mine(report_of(path)), "AS504")
    assert finding.risk == Risk.MEDIUM
    assert finding.line == line_of(path, "UPDATE products")
    assert finding.table == "products"
    assert 'UPDATE on "products"' in finding.message
    assert 'add_column() on "products"' in finding.message
    assert "held until the data migration commits" in finding.message


def test_data_migration_then_schema_change(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.execute("UPDATE orders SET status = 'new' WHERE status IS NULL")
        op.alter_column("orders", "status", nullable=False)
        """,
    )
    finding = only(mine(report_of(path)), "AS504")
    assert finding.line == line_of(path, "UPDATE orders")
    assert "waits for its lock" in finding.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            'op.bulk_insert(sa.table("plans", sa.column("name")), [{"name": "free"}])',
            id="bulk-insert",
        ),
        pytest.param(
            "op.execute(\"INSERT INTO plans (name) VALUES ('free')\")",
            id="insert-sql",
        ),
        pytest.param(
            'op.get_bind().execute(sa.text("SELECT id, name FROM plans"))',
            id="bind-query-driving-a-data-migration",
        ),
    ],
)
def test_other_data_statements_count(tmp_path: Path, data: str) -> None:
    path = revision(
        tmp_path,
        f"""
        op.create_index("ix_plans_name", "plans", ["name"])
        {data}
        """,
    )
    finding = only(mine(report_of(path)), "AS504")
    assert finding.line == line_of(path, data[:20])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            """
            op.create_table("plans", sa.Column("id", sa.Integer(), primary_key=True))
            op.execute("INSERT INTO plans (id) VALUES (1)")
            op.create_index("ix_plans_id", "plans", ["id"])
            """,
            id="data-and-schema-on-a-new-table",
        ),
        pytest.param(
            """
            op.add_column("products", sa.Column("sku_norm", sa.String(64), nullable=True))
            with op.get_context().autocommit_block():
                op.execute("UPDATE products SET sku_norm = upper(sku) WHERE id < 10")
            """,
            id="data-in-an-autocommit-block",
        ),
        pytest.param(
            """
            op.execute("UPDATE products SET sku = upper(sku) WHERE id < 10")
            with op.get_context().autocommit_block():
                op.create_index(
                    "ix_products_sku", "products", ["sku"], postgresql_concurrently=True
                )
            """,
            id="concurrent-index-in-an-autocommit-block",
        ),
        pytest.param(
            """
            op.add_column("products", sa.Column("sku_norm", sa.String(64), nullable=True))
            with op.get_context().autocommit_block():
                op.execute("CREATE INDEX CONCURRENTLY ix_products_sku ON products (sku)")
            op.execute("UPDATE products SET sku_norm = upper(sku) WHERE id < 10")
            """,
            id="separate-transactions-around-an-autocommit-block",
        ),
        pytest.param(
            """
            op.add_column("products", sa.Column("sku_norm", sa.String(64), nullable=True))
            op.execute("COMMIT")
            op.execute("UPDATE products SET sku_norm = upper(sku) WHERE id < 10")
            """,
            id="after-a-commit",
        ),
        pytest.param(
            'op.add_column("products", sa.Column("sku_norm", sa.String(64), nullable=True))',
            id="schema-only",
        ),
        pytest.param(
            """
            bind = op.get_bind()
            exists = bind.execute(
                sa.text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_products_sku'")
            ).scalar()
            if not exists:
                op.create_index("ix_products_sku", "products", ["sku"])
            """,
            id="catalog-lookup-guarding-ddl",
        ),
    ],
)
def test_data_and_schema_safe_cases(tmp_path: Path, body: str) -> None:
    report = report_of(revision(tmp_path, body))
    assert report.error is None
    assert "AS504" not in codes(report.findings)


def test_data_and_schema_is_reported_once_per_revision(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.add_column("a", sa.Column("x", sa.Integer(), nullable=True))
        op.execute("UPDATE a SET x = 1 WHERE x IS NULL")
        op.add_column("b", sa.Column("y", sa.Integer(), nullable=True))
        op.execute("UPDATE b SET y = 1 WHERE y IS NULL")
        """,
    )
    assert codes(report_of(path).findings).count("AS504") == 1


def test_data_and_schema_only_looks_at_the_upgrade(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.add_column("a", sa.Column("x", sa.Integer(), nullable=True))',
        """
        op.execute("UPDATE a SET x = NULL WHERE x = 0")
        op.drop_column("a", "x")
        """,
    )
    assert "AS504" not in codes(report_of(path).findings)


# -- AS505 bind-loop-without-commit ----------------------------------------------------------------

LOOP = """
for start in range(0, 15000, 5000):
    op.get_bind().execute(
        sa.text("UPDATE orders SET cents = total * 100 WHERE id > :lo AND id <= :hi"),
        {"lo": start, "hi": start + 5000},
    )
"""


def test_bind_loop_without_commit(tmp_path: Path) -> None:
    path = revision(tmp_path, LOOP)
    findings = mine(report_of(path))
    finding = only(findings, "AS505")
    assert finding.risk == Risk.MEDIUM
    assert finding.line == line_of(path, "op.get_bind().execute(")
    assert "runs 3 times" in finding.message
    assert "UPDATE orders" in finding.message
    compiles(finding.help)
    assert "autocommit_block()" in finding.help


def test_keyset_batch_through_the_bind_with_parameters_is_batched(tmp_path: Path) -> None:
    report = report_of(revision(tmp_path, LOOP))
    assert "AS502" not in codes(report.findings)


def test_loop_of_op_execute_and_through_a_helper(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        for table in ("a", "b"):
            backfill(table)
        backfill("c")
        """,
        module_body="""
        def backfill(table):
            op.execute(f"UPDATE {table} SET x = 0 WHERE id BETWEEN 1 AND 10")
        """,
    )
    finding = only(mine(report_of(path)), "AS505")
    assert finding.lines[0] == line_of(path, "    backfill(table)")
    assert "op.execute() runs 2 times" in finding.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            "with op.get_context().autocommit_block():\n" + textwrap.indent(LOOP, "    "),
            id="in-an-autocommit-block",
        ),
        pytest.param(
            """
            bind = op.get_bind()
            for start in range(0, 15000, 5000):
                bind.execute(sa.text("UPDATE orders SET a = 1 WHERE id > :lo"), {"lo": start})
                bind.commit()
            """,
            id="commit-per-batch",
        ),
        pytest.param(
            """
            for name in ("a", "b", "c"):
                op.get_bind().execute(sa.text("SELECT count(*) FROM " + name)).scalar()
            """,
            id="read-only-loop",
        ),
        pytest.param(
            """
            op.get_bind().execute(sa.text("UPDATE orders SET a = 1 WHERE id < 10"))
            op.get_bind().execute(sa.text("UPDATE orders SET a = 1 WHERE id < 10"))
            """,
            id="two-lines-not-a-loop",
        ),
        pytest.param(
            # Documented limit: in check mode the result is empty, so a loop that stops on an
            # empty batch runs once and looks like a single statement. The dry run sees it.
            """
            bind = op.get_bind()
            while True:
                result = bind.execute(
                    sa.text("UPDATE orders SET a = 1 WHERE id IN "
                            "(SELECT id FROM orders WHERE a IS NULL LIMIT 1000)")
                )
                if not result.rowcount:
                    break
            """,
            id="limit-result-driven-loop-runs-once-in-check-mode",
        ),
    ],
)
def test_bind_loop_safe_cases(tmp_path: Path, body: str) -> None:
    report = report_of(revision(tmp_path, body))
    assert report.error is None
    assert "AS505" not in codes(report.findings)


def test_bind_loop_in_downgrade(tmp_path: Path) -> None:
    path = revision(tmp_path, "pass", LOOP)
    finding = only(mine(report_of(path)), "AS505")
    assert finding.direction == "downgrade"


# -- AS603 empty-downgrade -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "downgrade",
    [
        pytest.param("pass", id="pass"),
        pytest.param('"""Downgrade schema."""', id="docstring-only"),
        pytest.param("return None", id="return"),
    ],
)
def test_empty_downgrade_after_schema_changes(tmp_path: Path, downgrade: str) -> None:
    path = revision(
        tmp_path,
        """
        op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))
        op.create_index("ix_users_nickname", "users", ["nickname"])
        """,
        downgrade,
    )
    finding = only(mine(report_of(path)), "AS603")
    assert finding.risk == Risk.MEDIUM
    assert finding.direction == "downgrade"
    assert finding.line == line_of(path, "def downgrade")
    assert 'add_column() on "users"' in finding.message
    compiles(finding.help)
    # Alembic's own reverse(), in reverse order
    assert finding.help.index("op.drop_index('ix_users_nickname'") < finding.help.index(
        "op.drop_column('users', 'nickname')"
    )


def test_missing_downgrade_function(tmp_path: Path) -> None:
    path = tmp_path / "a1_no_downgrade.py"
    path.write_text(
        'revision = "a1"\ndown_revision = None\n\nfrom alembic import op\nimport sqlalchemy as sa\n'
        '\n\ndef upgrade():\n    op.create_table("t", sa.Column("id", sa.Integer()))\n',
        encoding="utf-8",
    )
    finding = only(mine(report_of(path)), "AS603")
    assert finding.risk == Risk.MEDIUM
    assert finding.line is None
    assert "op.drop_table('t')" in finding.help


def test_empty_downgrade_after_ddl_in_raw_sql(tmp_path: Path) -> None:
    path = revision(tmp_path, 'op.execute("CREATE VIEW active_users AS SELECT 1")')
    assert only(mine(report_of(path)), "AS603").risk == Risk.MEDIUM


@pytest.mark.parametrize(
    "upgrade",
    [
        pytest.param("op.execute(\"UPDATE users SET role = 'member' WHERE id < 10\")", id="sql"),
        pytest.param(
            """
            bind = op.get_bind()
            for (user_id,) in bind.execute(sa.text("SELECT id FROM users")):
                bind.execute(sa.text("UPDATE users SET role = 'x' WHERE id = :id"), {"id": user_id})
            """,
            id="bind-loop-over-a-query",
        ),
    ],
)
def test_empty_downgrade_after_a_data_migration_is_low(tmp_path: Path, upgrade: str) -> None:
    path = revision(tmp_path, upgrade)
    finding = only(mine(report_of(path)), "AS603")
    assert finding.risk == Risk.LOW
    assert "NotImplementedError" in finding.help
    compiles(finding.help)


@pytest.mark.parametrize(
    ("upgrade", "downgrade"),
    [
        pytest.param("pass", "pass", id="merge-revision"),
        pytest.param("op.execute(\"SET lock_timeout = '5s'\")", "pass", id="settings-only"),
        pytest.param(
            'op.add_column("users", sa.Column("x", sa.Text()))',
            'op.drop_column("users", "x")',
            id="real-downgrade",
        ),
    ],
)
def test_no_empty_downgrade_finding(tmp_path: Path, upgrade: str, downgrade: str) -> None:
    assert "AS603" not in codes(report_of(revision(tmp_path, upgrade, downgrade)).findings)


def test_not_implemented_downgrade_is_declared_irreversible(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.drop_column("users", "legacy")',
        'raise NotImplementedError("the old values are gone")',
    )
    report = report_of(path)
    finding = only(mine(report), "AS603")
    assert finding.risk == Risk.LOW
    assert finding.direction == "downgrade"
    assert finding.line == line_of(path, "raise NotImplementedError")
    assert "declared irreversible" in finding.message
    assert "the old values are gone" in finding.message
    assert "AS604" not in codes(report.findings)
    # a declared-irreversible downgrade is a finding, not an analysis error
    assert report.error is None


def test_not_implemented_downgrade_is_not_an_analysis_error(tmp_path: Path) -> None:
    path = revision(tmp_path, 'op.drop_column("users", "legacy")', "raise NotImplementedError")
    assert report_of(path).error is None


def test_no_downgrade_option_disables_downgrade_rules(project: Project) -> None:
    project.revision("a1", None, 'op.add_column("users", sa.Column("x", sa.Text()))')
    document = run_main("check", "--format", "json", "--no-downgrade", cwd=project.root).json()
    assert not {"AS603", "AS604"} & {f["code"] for f in findings_of(document, "a1")}
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert "AS603" in {f["code"] for f in findings_of(document, "a1")}


# -- AS604 downgrade-does-not-mirror-upgrade -------------------------------------------------------


def test_missing_inverse_of_a_rename(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.create_index("ix_orders_status", "orders", ["status"])
        op.alter_column("orders", "total", new_column_name="total_amount")
        """,
        'op.drop_index("ix_orders_status", table_name="orders")',
    )
    finding = only(mine(report_of(path)), "AS604")
    assert finding.risk == Risk.LOW
    assert finding.direction == "upgrade"
    assert finding.line == line_of(path, "new_column_name=")
    assert 'alter_column() on "orders"' in finding.message
    assert 'op.alter_column("orders", "total_amount", new_column_name="total")' in finding.help
    compiles(finding.help)


def test_each_missing_inverse_is_reported_once(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        """
        op.add_column("orders", sa.Column("status", sa.String(20), nullable=True))
        op.create_index("ix_orders_created_at", "orders", ["created_at"])
        op.create_check_constraint("ck_orders_total", "orders", "total >= 0")
        op.rename_table("clients", "customers")
        op.alter_column("items", "qty", existing_type=sa.Integer(), type_=sa.BigInteger())
        op.drop_column("users", "phone")
        """,
        'op.drop_column("orders", "status")',
    )
    findings = [f for f in mine(report_of(path)) if f.code == "AS604"]
    helps = [f.help for f in findings]
    assert [f.line for f in findings] == [
        line_of(path, "ix_orders_created_at"),
        line_of(path, "ck_orders_total"),
        line_of(path, "rename_table"),
        line_of(path, '"qty"'),
        line_of(path, '"phone"'),
    ]
    assert "op.drop_index('ix_orders_created_at', table_name='orders')" in helps[0]
    assert "op.drop_constraint('ck_orders_total', 'orders', type_='check')" in helps[1]
    assert 'op.rename_table("customers", "clients")' in helps[2]
    assert "existing_type=sa.BigInteger()" in helps[3]
    assert "type_=sa.Integer()" in helps[3]
    assert '# op.add_column("users", sa.Column("phone", <type>' in helps[4]
    for help_text in helps:
        compiles(help_text)


@pytest.mark.parametrize(
    ("upgrade", "downgrade"),
    [
        pytest.param(
            """
            op.create_table("coupons", sa.Column("id", sa.Integer(), primary_key=True))
            op.create_index("ix_coupons_id", "coupons", ["id"])
            op.create_foreign_key("fk_orders_coupon", "orders", "coupons", ["cid"], ["id"])
            op.add_column("coupons", sa.Column("code", sa.Text()))
            """,
            """
            op.drop_constraint("fk_orders_coupon", "orders", type_="foreignkey")
            op.drop_table("coupons")
            """,
            id="dropping-the-table-undoes-what-was-made-on-it",
        ),
        pytest.param(
            """
            op.add_column("orders", sa.Column("status", sa.String(20)))
            op.create_index("ix_orders_status", "orders", ["status"])
            op.alter_column("orders", "status", nullable=False, existing_nullable=True)
            """,
            'op.drop_column("orders", "status")',
            id="dropping-the-column-undoes-its-index-and-changes",
        ),
        pytest.param(
            """
            op.drop_column("users", "phone")
            op.alter_column("products", "name", new_column_name="title")
            op.alter_column("items", "qty", type_=sa.BigInteger())
            """,
            """
            op.alter_column("items", "qty", type_=sa.Integer())
            op.alter_column("products", "title", new_column_name="name")
            op.add_column("users", sa.Column("phone", sa.String(32), nullable=True))
            """,
            id="full-mirror",
        ),
        pytest.param(
            """
            op.create_table("tmp_ids", sa.Column("id", sa.Integer()))
            op.execute("UPDATE orders SET a = 1 WHERE id IN (SELECT id FROM tmp_ids)")
            op.drop_table("tmp_ids")
            op.add_column("orders", sa.Column("b", sa.Integer()))
            """,
            'op.drop_column("orders", "b")',
            id="temporary-table-within-the-upgrade",
        ),
        pytest.param(
            """
            with op.get_context().autocommit_block():
                op.execute("CREATE INDEX CONCURRENTLY ix_orders_a ON orders (a)")
            op.create_index("ix_orders_b", "orders", ["b"])
            """,
            """
            op.execute("DROP INDEX ix_orders_a")
            op.execute("DO $$ BEGIN EXECUTE 'DROP INDEX ix_orders_b'; END $$")
            """,
            id="raw-sql-downgrade",
        ),
        pytest.param(
            'op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_x")',
            'op.execute("SELECT 1")',
            id="no-obvious-inverse",
        ),
        pytest.param(
            'op.add_column("users", sa.Column("x", sa.Text()))',
            "pass",
            id="empty-downgrade-is-AS603",
        ),
        pytest.param(
            'op.add_column("users", sa.Column("x", sa.Text()))',
            "raise NotImplementedError",
            id="irreversible",
        ),
    ],
)
def test_downgrade_mirror_safe_cases(tmp_path: Path, upgrade: str, downgrade: str) -> None:
    report = report_of(revision(tmp_path, upgrade, downgrade))
    assert "AS604" not in codes(report.findings)


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(
            ops.CreateTableOp("t", [sa.Column("id", sa.Integer(), primary_key=True)]), id="table"
        ),
        pytest.param(ops.AddColumnOp("t", sa.Column("c", sa.Text())), id="column"),
        pytest.param(ops.CreateIndexOp("ix_t_c", "t", ["c"]), id="index"),
        pytest.param(ops.CreateCheckConstraintOp("ck_t", "t", "c > 0"), id="check"),
        pytest.param(ops.CreateForeignKeyOp("fk_t", "t", "u", ["u_id"], ["id"]), id="fk"),
        pytest.param(ops.CreateUniqueConstraintOp("uq_t", "t", ["c"]), id="unique"),
        pytest.param(ops.CreatePrimaryKeyOp("pk_t", "t", ["id"]), id="primary-key"),
        pytest.param(
            ops.AlterColumnOp("t", "c", existing_type=sa.Integer(), modify_type=sa.BigInteger()),
            id="type",
        ),
        pytest.param(
            ops.AlterColumnOp("t", "c", existing_nullable=True, modify_nullable=False),
            id="nullable",
        ),
    ],
)
def test_expected_keys_are_those_of_alembics_own_reverse(
    operation: ops.MigrateOperation,
) -> None:
    inverse = reversed_operation(operation)
    assert inverse is not None
    assert keys(inverse) == expected_keys(operation)
    assert keys(inverse)


def test_downgrade_mirror_suppression_on_the_upgrade_line(tmp_path: Path) -> None:
    path = revision(
        tmp_path,
        'op.create_index("ix_a", "t", ["a"])  # alembic-safety: ignore[AS604] rebuilt nightly',
        'op.execute("SELECT 1")',
    )
    report = report_of(path)
    assert [f.code for f in report.active_findings if f.code == "AS604"] == []
    assert [f.code for f in report.findings if f.suppressed] == ["AS604"]


# -- AS605 revision-file-name-template -------------------------------------------------------------

DATED = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"


def dated_project(root: Path, template: str | None = DATED) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    write_scaffold(root)
    extra = f"file_template = {template}" if template else ""
    (root / "alembic.ini").write_text(ini_text(extra_alembic=extra), encoding="utf-8")
    return Project(root)


def as605(project: Project, rev: str) -> list[dict[str, Any]]:
    document = run_main("check", "--format", "json", cwd=project.root).json()
    return [f for f in findings_of(document, rev) if f["code"] == "AS605"]


def test_file_name_following_the_template(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p")
    project.revision("3f1c9a2b7d10", None, filename="2024_01_01_0000-3f1c9a2b7d10_revision.py")
    assert as605(project, "3f1c9a2b7d10") == []


def test_file_name_not_following_the_template(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p")
    path = project.revision("3f1c9a2b7d10", None, filename="3f1c9a2b7d10_add_status.py")
    [finding] = as605(project, "3f1c9a2b7d10")
    assert finding["risk"] == "LOW"
    assert finding["line"] == line_of(path, "revision = ")
    # the expected name, from the docstring's message ("revision 3f1c9a2b7d10") and Create Date
    expected = "2024_01_01_0000-3f1c9a2b7d10_revision_3f1c9a2b7d10.py"
    assert expected in finding["message"]
    assert finding["help"] == f"git mv {path} {path.parent / expected}"


def test_file_name_without_its_revision_id(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p")
    project.revision("3f1c9a2b7d10", None, filename="2024_01_01_0000-9999aaaa0000_copied.py")
    [finding] = as605(project, "3f1c9a2b7d10")
    assert 'does not contain its revision id "3f1c9a2b7d10"' in finding["message"]


def test_no_configured_template_is_not_checked(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p", template=None)
    project.revision("3f1c9a2b7d10", None, filename="whatever.py")
    assert as605(project, "3f1c9a2b7d10") == []


def test_file_name_finding_can_be_suppressed_on_the_revision_line(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p")
    path = project.revision("3f1c9a2b7d10", None, filename="legacy.py")
    source = path.read_text(encoding="utf-8").replace(
        "revision = '3f1c9a2b7d10'",
        "revision = '3f1c9a2b7d10'  # alembic-safety: ignore[AS605] named before the template",
    )
    path.write_text(source, encoding="utf-8")
    document = run_main("check", "--format", "json", cwd=project.root).json()
    [finding] = [f for f in findings_of(document, "3f1c9a2b7d10") if f["code"] == "AS605"]
    assert finding["suppressed"] is True


@pytest.mark.parametrize(
    ("template", "name", "matches"),
    [
        ("%(rev)s_%(slug)s", "ab12_add_users", True),
        ("%(rev)s_%(slug)s", "ab12", False),
        ("%(year)d_%(month).2d_%(day).2d-%(rev)s_%(slug)s", "2024_05_02-ab12_x", True),
        ("%(year)d_%(month).2d_%(day).2d-%(rev)s_%(slug)s", "2024_5_02-ab12_x", False),
        ("%(epoch)s_%(rev)s", "1714650000_ab12", True),
        ("%(epoch)s_%(rev)s", "ab12", False),
        ("%(year)d/%(month).2d/%(rev)s_%(slug)s", "2024/05/ab12_x", True),
    ],
)
def test_template_regex(template: str, name: str, matches: bool) -> None:
    assert bool(template_regex(template, "ab12").fullmatch(name)) is matches


# -- AS602 unreachable-revision --------------------------------------------------------------------


def broken_history(versions: Path) -> None:
    write_revision(versions, "a1", None, 'op.add_column("t", sa.Column("x", sa.Text()))')
    write_revision(versions, "b2", "a1")
    write_revision(versions, "c3", "gone00000000")  # its parent was deleted


def test_unreachable_revision_rule_finds_missing_parents_and_cycles(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    broken_history(versions)
    write_revision(versions, "d4", "e5")
    write_revision(versions, "e5", "d4")
    write_revision(versions, "f6", "b2", module_body="")
    rule = registry.get("AS602")
    assert isinstance(rule, UnreachableRevision)
    assert rule.risk == Risk.MEDIUM
    history = load_history(sorted(versions.glob("*.py")))
    found = {script.revision: v.message for script, v in rule.check_history(history)}
    assert sorted(found) == ["c3", "d4", "e5"]
    assert "'gone00000000'" in found["c3"]
    assert "cycle" in found["d4"]
    # pre-commit mode (only some files given): parents are expected to be missing
    partial = load_history([versions / "c3_revision.py"], partial=True)
    assert list(rule.check_history(partial)) == []


def test_depends_on_a_branch_label_or_a_prefix_is_reachable(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a1aaaa", None)
    path = write_revision(versions, "b2bbbb", "a1aaaa")
    path.write_text(
        path.read_text(encoding="utf-8").replace("depends_on = None", "depends_on = ('a1a',)"),
        encoding="utf-8",
    )
    history = load_history(sorted(versions.glob("*.py")))
    rule = registry.get("AS602")
    assert isinstance(rule, UnreachableRevision)
    assert list(rule.check_history(history)) == []


def test_unreachable_revision_is_reported_by_the_check_command(tmp_path: Path) -> None:
    project = dated_project(tmp_path / "p", template=None)
    broken_history(project.versions)
    document = run_main("check", "--format", "json", cwd=project.root).json()
    assert [f["code"] for f in findings_of(document, "c3") if f["code"] == "AS602"] == ["AS602"]
    assert [f["code"] for f in findings_of(document, "b2") if f["code"] == "AS602"] == []


# -- the rules' own documentation ------------------------------------------------------------------


def test_new_rules_are_registered_with_their_risk() -> None:
    expected = {
        "AS502": ("unbatched-update", Risk.MEDIUM),
        "AS503": ("unbatched-delete", Risk.MEDIUM),
        "AS504": ("data-and-schema-in-one-transaction", Risk.MEDIUM),
        "AS505": ("bind-loop-without-commit", Risk.MEDIUM),
        "AS602": ("unreachable-revision", Risk.MEDIUM),
        "AS603": ("empty-downgrade", Risk.MEDIUM),
        "AS604": ("downgrade-does-not-mirror-upgrade", Risk.LOW),
        "AS605": ("revision-file-name-template", Risk.LOW),
    }
    for code, (name, risk) in expected.items():
        rule = registry.get(code)
        assert rule is not None, code
        assert (rule.name, rule.risk) == (name, risk)
    revision_rules = {r.code for r in registry if r.is_revision_rule()}
    assert {"AS504", "AS505", "AS603", "AS604", "AS605"} <= revision_rules
    assert not {"AS502", "AS503", "AS602"} & revision_rules


def _python_blocks(rule_code: str, name: str) -> list[str]:
    rule = registry.get(rule_code)
    assert rule is not None
    doc = inspect.cleandoc(rule.__doc__ or "")
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert match is not None, f"{rule_code}: no section {name!r}"
    return re.findall(r"```python\n(.*?)```", match.group(1), re.S)


def _block_codes(tmp_path: Path, code: str, block: str) -> list[str]:
    """Active codes of a revision whose upgrade() is ``block`` and downgrade() is ``pass`` (the
    harness of test_rule_docs.py, whose EXAMPLE_SCOPE does not list these rules yet)."""
    path = revision(tmp_path, block, rev=f"doc{code.lower()}")
    report = report_of(path)
    assert report.error is None, report.error
    return sorted(f.code for f in report.active_findings)


WITH_PYTHON_EXAMPLE = ("AS502", "AS503", "AS504", "AS505", "AS603")


def test_which_new_rules_have_a_python_example() -> None:
    # history rules and AS604 (whose example needs a downgrade) show whole files instead
    assert [c for c in MINE if _python_blocks(c, "Example")] == list(WITH_PYTHON_EXAMPLE)


@pytest.mark.parametrize("code", WITH_PYTHON_EXAMPLE)
def test_documented_example_triggers_the_rule(tmp_path: Path, code: str) -> None:
    (block,) = _python_blocks(code, "Example")
    assert code in _block_codes(tmp_path, code, block)


@pytest.mark.parametrize("code", WITH_PYTHON_EXAMPLE)
def test_documented_fix_does_not_trigger_the_rule(tmp_path: Path, code: str) -> None:
    blocks = _python_blocks(code, "Use instead")
    assert blocks
    for number, block in enumerate(blocks):
        assert code not in _block_codes(tmp_path / str(number), code, block), block


def test_as604_documented_example_and_fix(tmp_path: Path) -> None:
    """AS604's example is a whole revision (its downgrade matters), so it is run here."""
    dangerous = revision(
        tmp_path,
        """
        op.create_index("ix_orders_status", "orders", ["status"])
        op.alter_column("orders", "total", new_column_name="total_amount")
        """,
        'op.drop_index("ix_orders_status", table_name="orders")',
        rev="doc1",
    )
    assert "AS604" in codes(report_of(dangerous).findings)
    fixed = revision(
        tmp_path,
        """
        op.create_index("ix_orders_status", "orders", ["status"])
        op.alter_column("orders", "total", new_column_name="total_amount")
        """,
        """
        op.alter_column("orders", "total_amount", new_column_name="total")
        op.drop_index("ix_orders_status", table_name="orders")
        """,
        rev="doc2",
    )
    assert "AS604" not in codes(report_of(fixed).findings)


def test_help_renders_without_alembic_log_lines(project: Project) -> None:
    (project.root / "alembic.ini").write_text(
        ini_text() + "\n[loggers]\nkeys = root,alembic\n[handlers]\nkeys = console\n[formatters]\n"
        "keys = generic\n[logger_root]\nlevel = WARNING\nhandlers = console\n"
        "[logger_alembic]\nlevel = INFO\nhandlers =\nqualname = alembic\n"
        "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nlevel = NOTSET\n"
        "formatter = generic\n[formatter_generic]\nformat = %%(levelname)s %%(message)s\n",
        encoding="utf-8",
    )
    project.revision("a1", None, 'op.add_column("users", sa.Column("x", sa.Integer()))')
    result = run_cli("check", cwd=project.root)
    assert "AS603" in result.stdout
    assert "setting up autogenerate plugin" not in result.stderr + result.stdout
    assert "Context impl" not in result.stderr + result.stdout


def test_columns_in_help_use_the_users_types() -> None:
    """The rendered inverse carries the column's real type (Alembic's renderer)."""

    rendered = render(
        ops.DropColumnOp.from_column_and_tablename(
            None, "t", sa.Column("c", sa.Integer())
        ).reverse()
    )
    assert "sa.Integer()" in rendered


@pytest.mark.parametrize(
    ("sql", "catalog_only"),
    [
        ("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)", True),
        ("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON true", True),
        ("SELECT column_name FROM information_schema.columns WHERE table_name = 'x'", True),
        ("SELECT id FROM users", False),
        ("SELECT 1 FROM pg_index, orders", False),
        ("UPDATE pg_index SET indisvalid = true", False),
        ("not sql at all", False),
        ("SELECT nextval('invoice_numbers')", False),  # no relation: a function may write
    ],
)
def test_reading_only_the_system_catalog_is_not_data_access(sql: str, catalog_only: bool) -> None:
    from alembic_safety.analysis.sql import reads_only_catalog

    assert reads_only_catalog(sql) is catalog_only


def test_as902_is_silent_for_a_catalog_lookup(tmp_path: Path) -> None:
    from alembic_safety.risk import assess_revision

    path = write_revision(
        tmp_path / "versions",
        "c4ta",
        None,
        'invalid = sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = '
        'to_regclass(:name)")\n'
        "if op.get_bind().execute(invalid, {'name': 'ix'}).scalar():\n"
        '    op.drop_index("ix", table_name="orders")\n'
        'op.get_bind().execute(sa.text("SELECT id FROM users"))',
    )
    found = [f for f in assess_revision(path).findings if f.code == "AS902"]
    assert [f.message for f in found] == [
        "needs a live database (execute: SELECT id FROM users); not analysed statically"
    ]
