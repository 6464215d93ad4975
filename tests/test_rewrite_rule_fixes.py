"""Every rule that says "Autogenerate fix: yes" is fixed by the rewriter, as the linter sees it.

A rule's ``fixable`` flag is what its documentation page promises. For each such rule, one
operation that triggers it (written the way autogenerate, or a user's hook composed with ours,
writes it) is rewritten; every generated script is rendered into a real revision file and
checked by the linter, and the rule must not fire in any of them. The set of cases must equal
the set of fixable rules, so a rule cannot claim a fix the rewriter does not make.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import render
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from alembic_safety.rewrite import process_revision_directives
from alembic_safety.risk import assess_operations, assess_revision
from alembic_safety.rules import registry


def _models() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("code", sa.String(20)),
        sa.Column("token", sa.Uuid, server_default=sa.text("gen_random_uuid()")),
    )
    sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def _modify(*operations: ops.MigrateOperation) -> list[ops.MigrateOperation]:
    return [ops.ModifyTableOps("orders", list(operations))]


#: rule code → the dangerous operations on the existing table ``orders`` (upgrade side).
CASES: dict[str, Callable[[], list[ops.MigrateOperation]]] = {
    "AS101": lambda: _modify(
        ops.AddColumnOp("orders", sa.Column("status", sa.String(20), nullable=False))
    ),
    "AS102": lambda: _modify(
        ops.AddColumnOp(
            "orders",
            sa.Column("token", sa.Uuid, server_default=sa.text("gen_random_uuid()")),
        )
    ),
    "AS104": lambda: _modify(
        ops.AlterColumnOp("orders", "user_id", existing_type=sa.Integer(), modify_nullable=False)
    ),
    "AS105": lambda: _modify(
        ops.AlterColumnOp(
            "orders", "total", existing_type=sa.Integer(), modify_type=sa.BigInteger()
        )
    ),
    "AS106": lambda: _modify(ops.CreateIndexOp("ix_orders_total", "orders", ["total"])),
    "AS107": lambda: _modify(ops.DropIndexOp("ix_orders_old", "orders")),
    "AS108": lambda: _modify(
        ops.CreateForeignKeyOp("fk_orders_user", "orders", "users", ["user_id"], ["id"])
    ),
    "AS109": lambda: _modify(
        ops.CreateCheckConstraintOp("ck_orders_total", "orders", "total >= 0")
    ),
    "AS110": lambda: _modify(ops.CreateUniqueConstraintOp("uq_orders_code", "orders", ["code"])),
    "AS111": lambda: _modify(ops.CreatePrimaryKeyOp("pk_orders", "orders", ["id"])),
    "AS201": lambda: _modify(
        ops.AlterColumnOp("orders", "code", existing_type=sa.String(20), modify_name="sku")
    ),
    "AS202": lambda: [ops.RenameTableOp("orders", "purchases")],
    "AS401": lambda: _modify(
        ops.CreateIndexOp("ix_orders_code", "orders", ["code"], postgresql_concurrently=True)
    ),
}


def _render(container: ops.OpContainer, imports: set[str]) -> str:
    """The body Alembic's template would write, collecting the imports renderers ask for."""
    context = AutogenContext(
        MigrationContext.configure(dialect_name="postgresql"),
        opts={"sqlalchemy_module_prefix": "sa.", "alembic_module_prefix": "op."},
    )
    code = render._indent(render._render_cmd_body(container, context))  # type: ignore[arg-type]
    imports |= context.imports
    return code


def _revision_file(path: Path, script: ops.MigrationScript, down: str | None) -> Path:
    imports: set[str] = set()
    upgrade = _render(script.upgrade_ops_list[0], imports)
    downgrade = _render(script.downgrade_ops_list[0], imports)
    path.write_text(
        f'"""{script.message}"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n"
        + "".join(f"{line}\n" for line in sorted(imports))
        + f"\nrevision = {script.rev_id!r}\ndown_revision = {down!r}\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n",
        encoding="utf-8",
    )
    return path


def _reverse(upgrade: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """Autogenerate's downgrade; Alembic cannot reverse a table rename, a hook writes it."""
    if isinstance(upgrade[0], ops.RenameTableOp):
        return [ops.RenameTableOp(upgrade[0].new_table_name, upgrade[0].table_name)]
    return ops.UpgradeOps(upgrade).reverse().ops


def test_every_fixable_rule_has_a_case() -> None:
    fixable = {rule.code for rule in registry if rule.fixable}
    assert fixable == set(CASES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_the_rewrite_removes_the_rules_finding(code: str, tmp_path: Path) -> None:
    upgrade = CASES[code]()
    # (Alembic cannot render every such op into a file, e.g. create_primary_key: the API can
    # assess the op objects themselves.)
    before = assess_operations(CASES[code]())
    assert code in {f.code for f in before}, "the case must trigger the rule"

    script = ops.MigrationScript(
        rev_id="b0000000000b",
        message="change",
        upgrade_ops=ops.UpgradeOps(upgrade),
        downgrade_ops=ops.DowngradeOps(_reverse(CASES[code]())),
    )
    directives = [script]
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"target_metadata": _models()}
    )
    process_revision_directives(context, None, directives)
    down: str | None = None
    for index, generated in enumerate(directives):
        path = _revision_file(tmp_path / f"r{index}.py", generated, down)
        report = assess_revision(path)
        assert report.error is None, report.error
        assert code not in {f.code for f in report.active_findings}, path.read_text()
        down = str(generated.rev_id)
