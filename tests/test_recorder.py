"""The recorder runs upgrade()/downgrade() for real: every way of making an op is seen, at the
right line, in the right context (autocommit, batch, new table), and nothing stops analysis."""

from __future__ import annotations

from pathlib import Path

import alembic.op
import pytest
from conftest import MakeProject, line_of, run_main, write_revision

from alembic_safety.risk import Finding, RevisionReport, assess_revision


def assess(
    tmp_path: Path,
    upgrade: str,
    downgrade: str = "pass",
    *,
    module_body: str = "",
    extra_imports: str = "",
) -> tuple[RevisionReport, Path]:
    path = write_revision(
        tmp_path / "versions",
        "a1b2c3d4e5f6",
        None,
        upgrade,
        downgrade,
        extra_imports,
        module_body=module_body,
    )
    return assess_revision(path), path


def only(report: RevisionReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def test_plain_call_is_recorded_at_its_line(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))
        op.add_column("users", sa.Column("status", sa.Integer(), nullable=False))
        """,
    )
    assert report.error is None
    [finding] = only(report, "AS101")
    assert finding.line == line_of(path, '"status"')
    assert finding.lines == (finding.line,)
    assert finding.table == "users"
    assert finding.operation == "add_column"
    assert finding.direction == "upgrade"
    assert finding.file == str(path.resolve())


def test_multi_line_call_is_reported_at_the_first_line_of_the_statement(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.add_column(
            "users",
            sa.Column(
                "status",
                sa.Integer(),
                nullable=False,
            ),
        )
        """,
    )
    [finding] = only(report, "AS101")
    first = line_of(path, "op.add_column(")
    assert finding.line == first
    assert finding.lines == (first,)
    assert first != line_of(path, "nullable=False")


def test_alias_inside_upgrade(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        add = op.add_column
        add("users", sa.Column("status", sa.Integer(), nullable=False))
        """,
    )
    [finding] = only(report, "AS101")
    assert finding.line == line_of(path, 'add("users"')
    assert finding.table == "users"


def test_alias_at_module_level(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        'add_col("users", sa.Column("status", sa.Integer(), nullable=False))',
        module_body="add_col = op.add_column",
    )
    assert report.error is None
    [finding] = only(report, "AS101")
    assert finding.line == line_of(path, 'add_col("users"')


def test_loop_over_table_names_records_one_op_per_table(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        for table in ("orders", "invoices", "refunds"):
            op.add_column(table, sa.Column("tenant_id", sa.Integer(), nullable=False))
        """,
    )
    findings = only(report, "AS101")
    assert [f.table for f in findings] == ["orders", "invoices", "refunds"]
    op_line = line_of(path, "op.add_column(table")
    assert {f.line for f in findings} == {op_line}


def test_helper_function_reports_call_site_and_helper_line(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.drop_column("orders", "legacy")
        add_index("orders", "created_at")
        """,
        module_body="""
        def add_index(table, column):
            name = f"ix_{table}_{column}"
            op.create_index(name, table, [column])
        """,
    )
    [finding] = only(report, "AS106")
    call_site = line_of(path, 'add_index("orders"')
    helper_op = line_of(path, "op.create_index(name")
    assert helper_op < call_site  # the helper is defined above upgrade()
    assert finding.line == call_site
    assert finding.lines == (call_site, helper_op)
    assert finding.table == "orders"


def test_nested_helpers_give_the_whole_chain(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        'outer("orders")',
        module_body="""
        def inner(table):
            op.create_index("ix_" + table, table, ["a"])


        def outer(table):
            inner(table)
        """,
    )
    [finding] = only(report, "AS106")
    assert finding.lines == (
        line_of(path, 'outer("orders")'),
        line_of(path, "    inner(table)"),
        line_of(path, 'op.create_index("ix_"'),
    )


def test_variable_table_name(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        """
        prefix = "shop"
        table = prefix + "_" + "orders"
        op.create_index("ix_created", table, ["created_at"])
        """,
    )
    [finding] = only(report, "AS106")
    assert finding.table == "shop_orders"


def test_batch_alter_table_ops_are_recorded_with_the_batch_table(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        with op.batch_alter_table("accounts") as batch_op:
            batch_op.alter_column(
                "balance", existing_type=sa.Integer(), type_=sa.BigInteger()
            )
            batch_op.add_column(sa.Column("region", sa.Text(), nullable=False))
        """,
    )
    assert report.error is None
    [type_change] = only(report, "AS105")
    assert type_change.table == "accounts"
    assert type_change.line == line_of(path, "batch_op.alter_column(")
    [not_null] = only(report, "AS101")
    assert not_null.table == "accounts"
    assert not_null.line == line_of(path, "batch_op.add_column(")


def test_autocommit_block_exempts_concurrently_inside_only(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        with op.get_context().autocommit_block():
            op.create_index("ix_in", "users", ["a"], postgresql_concurrently=True)
        op.create_index("ix_after", "users", ["a"], postgresql_concurrently=True)
        """,
    )
    [finding] = only(report, "AS401")
    assert finding.line == line_of(path, '"ix_after"')
    assert not only(report, "AS106")  # both are concurrent


def test_commit_hack_is_still_a_transaction_with_psycopg3(make_project: MakeProject) -> None:
    project = make_project(url="postgresql+psycopg://postgres@127.0.0.1:5432/app")
    path = project.revision(
        "a1b2c3",
        None,
        """
        op.execute("COMMIT")
        op.create_index("ix_email", "users", ["email"], postgresql_concurrently=True)
        """,
    )
    document = run_main("check", "--format", "json", "--select", "AS401", cwd=project.root).json()
    lines = [f["line"] for f in document["revisions"][0]["findings"] if f["code"] == "AS401"]
    assert lines == [line_of(path, "op.create_index(")]


def test_commit_inside_the_same_sql_string_does_not_leave_the_transaction(
    tmp_path: Path,
) -> None:
    """A multi-statement string is one implicit transaction block on the server."""
    report, path = assess(
        tmp_path, 'op.execute("COMMIT; CREATE INDEX CONCURRENTLY ix_name ON users (name)")'
    )
    assert [f.line for f in only(report, "AS401")] == [line_of(path, "op.execute(")]


def test_ops_on_a_table_created_in_the_same_revision_are_harmless(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        """
        op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("widgets", sa.Column("size", sa.Integer(), nullable=False))
        op.create_index("ix_widgets_size", "widgets", ["size"])
        op.alter_column("widgets", "size", existing_type=sa.Integer(), type_=sa.BigInteger())
        op.rename_table("widgets", "gadgets")
        op.create_index("ix_gadgets_size", "gadgets", ["size"])
        """,
    )
    assert report.error is None
    # the families about dangerous operations: locks and rewrites, breaking changes, data loss
    dangers = [f for f in report.findings if f.code.startswith(("AS1", "AS2", "AS3"))]
    assert dangers == []


def test_concurrently_in_transaction_is_flagged_even_on_a_new_table(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))
        op.create_index("ix_widgets_id", "widgets", ["id"], postgresql_concurrently=True)
        """,
    )
    [finding] = only(report, "AS401")
    assert finding.table == "widgets"
    assert finding.line == line_of(path, "op.create_index(")


def test_existing_table_is_still_flagged_next_to_a_new_one(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))
        op.create_index("ix_widgets_id", "widgets", ["id"])
        op.create_index("ix_users_id", "users", ["id"])
        """,
    )
    [finding] = only(report, "AS106")
    assert finding.table == "users"
    assert finding.line == line_of(path, '"ix_users_id"')


def test_raw_sql_in_every_form(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.execute("UPDATE plain SET x = 1")
        op.execute(sa.text("UPDATE texted SET x = 1"))
        op.get_bind().execute(sa.text("UPDATE bound SET x = 1"))
        op.execute("UPDATE limited SET x = 1 WHERE id < 100")
        """,
    )
    assert report.error is None
    updates = {f.table: f.line for f in only(report, "AS501")}
    assert updates == {
        "plain": line_of(path, "UPDATE plain"),
        "texted": line_of(path, "UPDATE texted"),
        "bound": line_of(path, "UPDATE bound"),
    }
    [online] = only(report, "AS902")
    assert online.line == line_of(path, "UPDATE bound")
    assert online.operation == "get_bind"
    assert "UPDATE bound SET x = 1" in online.message


def test_scalar_result_compared_with_gt_does_not_stop_analysis(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        count = op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()
        if count > 0:
            op.drop_table("never_reached")
        for row in op.get_bind().execute(sa.text("SELECT id FROM users")):
            op.drop_table("never_reached_either")
        assert op.get_bind().execute(sa.text("SELECT 1")).first() is None
        op.drop_column("users", "after_the_query")
        """,
    )
    assert report.error is None
    [drop] = only(report, "AS301")
    assert drop.line == line_of(path, '"after_the_query"')
    assert only(report, "AS302") == []
    assert len(only(report, "AS902")) == 3


def test_exception_in_upgrade_is_reported_with_its_line(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.drop_column("users", "before")
        raise RuntimeError("cannot continue")
        op.drop_column("users", "after")
        """,
    )
    raise_line = line_of(path, "raise RuntimeError")
    assert report.error is not None
    assert f"line {raise_line}" in report.error
    assert "RuntimeError" in report.error
    assert "cannot continue" in report.error
    drops = only(report, "AS301")
    assert [f.line for f in drops] == [line_of(path, '"before"')]


def test_sys_exit_in_upgrade_is_an_error_like_any_other(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        op.drop_column("users", "before")
        sys.exit("refusing to run without -x confirm=1")
        """,
        extra_imports="import sys",
    )
    assert report.error is not None
    assert "SystemExit" in report.error
    assert f"line {line_of(path, 'sys.exit(')}" in report.error
    assert [f.line for f in only(report, "AS301")] == [line_of(path, '"before"')]


def test_exception_inside_a_helper_names_the_revision_line(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        "fail()",
        module_body="""
        def fail():
            return {}["missing"]
        """,
    )
    assert report.error is not None
    assert "KeyError" in report.error
    assert f"line {line_of(path, 'return {}')}" in report.error


def test_reflection_through_inspect_does_not_crash(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        inspector = sa.inspect(op.get_bind())
        columns = [c["name"] for c in inspector.get_columns("users")]
        if not inspector.has_table("users"):
            op.drop_column("users", "when_missing")
        """,
    )
    assert report.error is None
    reflections = only(report, "AS902")
    assert {f.line for f in reflections} == {
        line_of(path, "inspector.get_columns"),
        line_of(path, "inspector.has_table"),
    }
    assert any("get_columns" in f.message for f in reflections)
    [drop] = only(report, "AS301")
    assert drop.line == line_of(path, '"when_missing"')


def test_alembic_context_works_inside_upgrade(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        options = context.get_x_argument(as_dictionary=True)
        assert isinstance(options, dict)
        if not context.is_offline_mode():
            op.drop_column("users", "online_only")
        """,
        extra_imports="from alembic import context",
    )
    assert report.error is None
    [drop] = only(report, "AS301")
    assert drop.line == line_of(path, '"online_only"')


def test_downgrade_dropping_what_upgrade_created_is_a_rollback(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        'op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))',
        """
        op.drop_table("widgets")
        op.drop_table("unrelated")
        """,
    )
    [drop] = only(report, "AS302")
    assert drop.direction == "downgrade"
    assert drop.table == "unrelated"
    assert drop.line == line_of(path, 'op.drop_table("unrelated")')


def test_downgrade_dropping_a_created_then_renamed_table_is_a_rollback(tmp_path: Path) -> None:
    report, _ = assess(
        tmp_path,
        """
        op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))
        op.rename_table("widgets", "gadgets")
        """,
        'op.drop_table("gadgets")',
    )
    assert only(report, "AS302") == []


def test_create_table_returns_a_table_usable_with_bulk_insert(tmp_path: Path) -> None:
    report, path = assess(
        tmp_path,
        """
        statuses = op.create_table(
            "statuses",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("label", sa.String(20), nullable=False),
        )
        assert isinstance(statuses, sa.Table), type(statuses)
        assert statuses.name == "statuses"
        op.bulk_insert(statuses, [{"id": 1, "label": "new"}, {"id": 2, "label": "done"}])
        op.drop_column("orders", "status_text")
        """,
    )
    assert report.error is None
    [drop] = only(report, "AS301")
    assert drop.line == line_of(path, '"status_text"')


def test_recording_leaves_alembic_op_unbound(tmp_path: Path) -> None:
    """After analysis, ``alembic.op`` must not keep pointing at the recorder."""
    assess(tmp_path, 'op.drop_column("users", "x")')
    assert getattr(alembic.op, "_proxy", None) is None
    with pytest.raises((NameError, AttributeError)):
        alembic.op.drop_column("users", "x")
