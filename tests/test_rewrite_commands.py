"""The three ways to turn the rewriter on, and turning it on twice.

``alembic-safety init`` (edits env.py), ``autogenerate_plugins=[..., "alembic_safety"]`` (the
plugin's comparator installs the hook) and ``alembic-safety revision`` (a command-level hook).
End to end with the real executables on real projects: Alembic's own generic env.py, models in
a module next to it, and a scratch PostgreSQL database whose tables hold rows.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import alembic
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import run_alembic, run_cli
from psycopg import sql

from alembic_safety.rewrite.install import HOOK, IMPORT, enable_in_source

SERVER = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATES = Path(alembic.__file__).parent / "templates" / "generic"
PLUGINS = 'autogenerate_plugins=["alembic.autogenerate.*", "alembic_safety"]'

MODELS_V1 = """
import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("email", sa.String(100)))
orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("user_id", sa.Integer), sa.Column("total", sa.Integer))
"""

# An index and a foreign key on a table with rows: an expand revision (CREATE INDEX
# CONCURRENTLY, FK NOT VALID) and a chained migrate revision (VALIDATE).
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
    sa.Index("ix_orders_total", "total"),
)
"""

INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = {url}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


def _concurrent_in_autocommit_block(text: str, index: str, columns: str) -> bool:
    """True when the upgrade builds ``index`` concurrently inside an autocommit block."""
    upgrade = text.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    block = upgrade.split("    with op.get_context().autocommit_block():\n", 1)
    create = f"        op.create_index('{index}', 'orders', {columns}, unique=False, "
    return len(block) == 2 and any(
        line.startswith(create) and "postgresql_concurrently=True" in line
        for line in block[1].splitlines()
    )


def _reachable() -> bool:
    try:
        with psycopg.connect(SERVER, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture
def scratch_url() -> Iterator[str]:
    """A throwaway database on the test server, always dropped."""
    if not _reachable():
        pytest.skip(f"no PostgreSQL at {SERVER}")
    name = f"alembic_safety_cmd_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _generic_env_py(*, plugins: bool = False, extra: str = "", hook: str | None = None) -> str:
    """Alembic's own generic env.py with the models' metadata; optionally the plugin list."""
    text = (TEMPLATES / "env.py").read_text()
    text = text.replace(
        "target_metadata = None", f"import models\n{extra}\ntarget_metadata = models.metadata"
    )
    online = "            connection=connection, target_metadata=target_metadata\n"
    assert online in text  # the template changed: adapt the test
    keywords = "connection=connection, target_metadata=target_metadata"
    if plugins:
        keywords += f", {PLUGINS}"
    if hook is not None:
        keywords += f", process_revision_directives={hook}"
    return text.replace(online, f"            {keywords}\n")


def _project(root: Path, url: str, env_py: str) -> Path:
    """A project at its first revision (made and applied with stock Alembic), tables with rows."""
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    shutil.copy(TEMPLATES / "script.py.mako", migrations / "script.py.mako")
    (migrations / "env.py").write_text(_generic_env_py())
    (root / "models.py").write_text(MODELS_V1)
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    (root / "alembic.ini").write_text(INI.format(url=sa_url))
    _alembic(root, "revision", "--autogenerate", "-m", "initial")
    _alembic(root, "upgrade", "head")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@example.com')")
        conn.execute("INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20)")
    (migrations / "env.py").write_text(env_py)
    (root / "models.py").write_text(MODELS_V2)
    return migrations / "env.py"


def _alembic(root: Path, *args: str) -> str:
    result = run_alembic(*args, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _new_revisions(root: Path) -> list[Path]:
    """Revision files other than the initial one, in chain order."""
    files = [p for p in (root / "migrations" / "versions").glob("*.py") if "initial" not in p.name]
    by_down: dict[str, Path] = {}
    ids: dict[Path, str] = {}
    for path in files:
        text = path.read_text()
        revision = re.search(r"^revision: str = '(\w+)'", text, re.MULTILINE)
        down = re.search(r"^down_revision: .* = '?(\w+)'?$", text, re.MULTILINE)
        assert revision, text
        assert down, text
        ids[path] = revision.group(1)
        by_down[down.group(1)] = path
    chain: list[Path] = []
    # the first new file is the one whose down_revision is not another new file
    new_ids = set(ids.values())
    current: Path | None = next(p for d, p in by_down.items() if d not in new_ids)
    while current is not None:
        chain.append(current)
        current = by_down.get(ids[current])
    assert len(chain) == len(files), files  # one linear chain, nothing left over
    return chain


def _assert_rewritten_chain(root: Path) -> tuple[Path, Path]:
    """The expand revision and its migrate follow-up, each with one header and one timeout."""
    expand, contract = _new_revisions(root)
    one, two = expand.read_text(), contract.read_text()
    assert _concurrent_in_autocommit_block(one, "ix_orders_total", "['total']"), one
    assert re.search(r"op\.create_foreign_key\('fk_orders_user_id_users'.*not_valid=True\)", one)
    assert "ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id_users" in two
    for text, phase in [(one, "expand"), (two, "migrate")]:
        assert text.count("alembic-safety:\nMigration ID:") == 1
        assert f"\nPhase: {phase}\n" in text
        upgrade = text.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
        assert upgrade.count("lock_timeout") == 1, upgrade
    assert one.count("autocommit_block()") == 2  # upgrade and downgrade, once each
    return expand, contract


def _rev_id(path: Path) -> str:
    found = re.search(r"^revision: str = '(\w+)'", path.read_text(), re.MULTILINE)
    assert found, path.read_text()
    return found.group(1)


def _catalog(url: str) -> tuple[object, object]:
    with psycopg.connect(url) as conn:
        index = conn.execute(
            "SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'ix_orders_total'"
        ).fetchone()
        fk = conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_orders_user_id_users'"
        ).fetchone()
    return index, fk


def _one_line_error(result: object, needle: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.stdout, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("alembic-safety: error: "), stderr
    assert needle in lines[0], stderr


# -- alembic-safety revision -----------------------------------------------------------------------


@pytest.mark.slow
def test_revision_command_writes_the_rewritten_chain(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    env_py = _project(root, scratch_url, _generic_env_py())  # no hook in env.py at all
    result = run_cli("revision", "--autogenerate", "-m", "orders index and fk", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    expand, contract = _assert_rewritten_chain(root)
    assert result.stdout.splitlines() == [
        f"{expand.relative_to(root)}: phase expand, risk LOW",
        f"{contract.relative_to(root)}: phase migrate, risk LOW",
    ]
    assert expand.name.endswith("_orders_index_and_fk.py")
    assert HOOK not in env_py.read_text()  # nothing was changed in the project

    _alembic(root, "upgrade", "head")
    assert _catalog(scratch_url) == ((True,), (True,))
    _alembic(root, "downgrade", "base")
    assert _catalog(scratch_url) == (None, None)
    _alembic(root, "upgrade", "head")
    _alembic(root, "check")  # the database now matches the models


@pytest.mark.slow
def test_revision_command_passes_alembic_options(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    _project(root, scratch_url, _generic_env_py())
    result = run_cli(
        "revision", "-m", "empty one", "--rev-id", "abc123", "--branch-label", "feature",
        cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (path,) = _new_revisions(root)
    assert path.name == "abc123_empty_one.py"
    text = path.read_text()
    assert "branch_labels: Union[str, Sequence[str], None] = ('feature',)" in text
    # Without --autogenerate Alembic runs env.py only with revision_environment: no hook ran.
    assert "alembic-safety:" not in text
    assert result.stdout == (
        "migrations/versions/abc123_empty_one.py: no risk header (env.py did not run)\n"
    )

    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nrevision_environment = 1\n"))
    result = run_cli(
        "revision", "-m", "second", "--rev-id", "def456", "--head", "feature@head", cwd=root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "migrations/versions/def456_second.py: phase expand, risk LOW\n"
    assert "Revises: abc123\n" in (root / "migrations/versions/def456_second.py").read_text()


@pytest.mark.slow
def test_revision_command_errors_are_one_line(tmp_path: Path, scratch_url: str) -> None:
    _one_line_error(
        run_cli("revision", "--autogenerate", "-m", "x", cwd=tmp_path), "no alembic.ini"
    )
    root = tmp_path / "proj"
    _project(root, scratch_url, _generic_env_py())
    _one_line_error(
        run_cli("revision", "--autogenerate", "--sql", "-m", "x", cwd=root),
        "Using --sql with --autogenerate does not make any sense",
    )
    _alembic(root, "revision", "-m", "not applied")  # the database is now behind the history
    _one_line_error(
        run_cli("revision", "--autogenerate", "-m", "x", cwd=root),
        "Target database is not up to date.",
    )
    ini = root / "alembic.ini"
    ini.write_text(re.sub(r"@127\.0\.0\.1:\d+/", "@127.0.0.1:1/", ini.read_text()))
    _one_line_error(run_cli("revision", "--autogenerate", "-m", "x", cwd=root), "database: ")
    ini.write_text("[alembic]\nsqlalchemy.url = sqlite://\n")
    _one_line_error(run_cli("revision", "-m", "x", cwd=root), "no script_location")


# -- alembic-safety init ---------------------------------------------------------------------------


@pytest.mark.slow
def test_init_enables_the_rewriter_for_stock_alembic(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    env_py = _project(root, scratch_url, _generic_env_py())
    original = env_py.read_text()

    preview = run_cli("init", "--dry-run", cwd=root)
    assert preview.returncode == 0, preview.stderr
    assert env_py.read_text() == original  # --dry-run writes nothing
    assert f"+        process_revision_directives={HOOK},\n" in preview.stdout
    assert f"+{IMPORT}\n" in preview.stdout
    assert "not changed" in preview.stdout

    result = run_cli("init", "-c", root / "alembic.ini", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("--- a/env.py\n+++ b/env.py\n")
    assert result.stdout.splitlines()[:-1] == preview.stdout.splitlines()[:-1]  # the same diff
    changed = [line for line in result.stdout.splitlines()[2:] if line[:1] in "+-"]
    assert changed == [  # nothing else changed: comments and formatting are kept
        f"+{IMPORT}",
        f"+        process_revision_directives={HOOK},",  # offline
        "-            connection=connection, target_metadata=target_metadata",  # online
        "+            connection=connection, target_metadata=target_metadata,",
        f"+            process_revision_directives={HOOK},",
    ]
    edited = env_py.read_text()
    assert "# add your model's MetaData object here" in edited
    assert not list(env_py.parent.glob(".env.py.*"))  # no temporary file left behind

    again = run_cli("init", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "already enabled" in again.stdout
    assert "---" not in again.stdout
    assert env_py.read_text() == edited

    _alembic(root, "revision", "--autogenerate", "-m", "orders index and fk")
    _assert_rewritten_chain(root)
    _alembic(root, "upgrade", "head")
    assert _catalog(scratch_url) == ((True,), (True,))
    initial = _rev_id(next((root / "migrations" / "versions").glob("*_initial.py")))
    # The offline configure call has the hook too, and offline mode still works.
    offline = _alembic(root, "downgrade", f"head:{initial}", "--sql")
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix_orders_total" in offline


USER_HOOK = '''
from alembic.operations import ops


def add_an_index(context, revision, directives):
    """The user's own hook: adds an index that autogenerate did not produce."""
    script = directives[0]
    script.upgrade_ops.ops.append(ops.CreateIndexOp("ix_orders_user_id", "orders", ["user_id"]))
    script.downgrade_ops.ops.insert(0, ops.DropIndexOp("ix_orders_user_id", "orders"))
'''


@pytest.mark.slow
def test_init_composes_an_existing_hook(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    env_py = _project(root, scratch_url, _generic_env_py(extra=USER_HOOK, hook="add_an_index"))
    result = run_cli("init", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (
        "\n+            connection=connection, target_metadata=target_metadata, "
        "process_revision_directives=alembic_safety.rewrite.compose(add_an_index)\n"
    ) in result.stdout
    assert env_py.read_text().count("alembic_safety.rewrite.compose(add_an_index)") == 1
    assert run_cli("init", cwd=root).stdout.startswith("the autogenerate rewriter is already")

    _alembic(root, "revision", "--autogenerate", "-m", "orders index and fk")
    expand, _ = _assert_rewritten_chain(root)
    text = expand.read_text()
    # The user's hook ran (its index is there), then ours (it is built concurrently).
    assert _concurrent_in_autocommit_block(text, "ix_orders_user_id", "['user_id']"), text
    _alembic(root, "upgrade", "head")
    _alembic(root, "downgrade", "base")


def test_init_refuses_without_a_configure_call(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    _one_line_error(run_cli("init", cwd=tmp_path), "no env.py at")
    env_py = migrations / "env.py"
    env_py.write_text("from alembic import context\n\ncontext.run_migrations()\n")
    _one_line_error(run_cli("init", cwd=tmp_path), "no context.configure(...) call in")
    assert env_py.read_text() == "from alembic import context\n\ncontext.run_migrations()\n"
    env_py.write_text("def broken(:\n")
    _one_line_error(run_cli("init", cwd=tmp_path), "cannot parse")
    _one_line_error(run_cli("init", "-c", tmp_path / "nope.ini", cwd=tmp_path), "not found")


# -- the plugin list -------------------------------------------------------------------------------


@pytest.mark.slow
def test_plugin_list_enables_the_rewriter(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    env_py = _project(root, scratch_url, _generic_env_py(plugins=True))
    versions = root / "migrations" / "versions"
    with_plugin = run_alembic("check", cwd=root)

    _alembic(root, "revision", "--autogenerate", "-m", "orders index and fk")
    expand, contract = _assert_rewritten_chain(root)
    _alembic(root, "upgrade", "head")
    _alembic(root, "downgrade", "-2")
    expand.unlink()
    contract.unlink()

    env_py.write_text(_generic_env_py())  # the plugin not listed: stock output
    without_plugin = run_alembic("check", cwd=root)
    _alembic(root, "revision", "--autogenerate", "-m", "orders index and fk")
    (plain,) = (p for p in versions.glob("*.py") if "initial" not in p.name)
    text = plain.read_text()
    assert "alembic-safety:" not in text
    assert "postgresql_concurrently" not in text
    assert "op.create_index('ix_orders_total', 'orders', ['total'], unique=False)" in text

    # `alembic check` says the same with or without the plugin: it compares, never rewrites.
    assert with_plugin.returncode == without_plugin.returncode != 0

    def output(result: subprocess.CompletedProcess[str]) -> str:
        return re.sub(r" at 0x[0-9a-f]+", "", result.stdout + result.stderr)

    assert output(with_plugin) == output(without_plugin)
    assert "add_index" in with_plugin.stdout + with_plugin.stderr


def test_plugin_comparator_leaves_compare_metadata_alone(scratch_url: str) -> None:
    engine = sa.create_engine(scratch_url.replace("postgresql://", "postgresql+psycopg://", 1))
    namespace: dict[str, object] = {}
    exec(MODELS_V1, namespace)
    metadata = namespace["metadata"]
    assert isinstance(metadata, sa.MetaData)
    try:
        with engine.connect() as connection:
            diffs = []
            for plugins in (
                ["alembic.autogenerate.*"],
                ["alembic.autogenerate.*", "alembic_safety"],
            ):
                context = MigrationContext.configure(
                    connection, opts={"autogenerate_plugins": plugins, "target_metadata": metadata}
                )
                diffs.append(compare_metadata(context, metadata))
                assert "process_revision_directives" not in context.opts
    finally:
        engine.dispose()
    assert [d[0] for d in diffs[0]] == ["add_table", "add_table"]
    assert repr(diffs[0]) == repr(diffs[1])


@pytest.mark.slow
def test_enabled_three_ways_writes_one_chain(tmp_path: Path, scratch_url: str) -> None:
    root = tmp_path / "proj"
    env_py = _generic_env_py(plugins=True, extra=USER_HOOK, hook="add_an_index")
    _project(root, scratch_url, env_py)
    init = run_cli("init", cwd=root)  # env.py: compose(add_an_index), and the plugin list ...
    assert init.returncode == 0, init.stderr
    result = run_cli("revision", "--autogenerate", "-m", "orders index and fk", cwd=root)  # + CLI
    assert result.returncode == 0, result.stderr
    expand, _ = _assert_rewritten_chain(root)  # exactly two files, one header and timeout each
    text = expand.read_text()
    assert text.count("'ix_orders_user_id', 'orders', ['user_id']") == 1  # user's hook ran once
    assert len(result.stdout.splitlines()) == 2
    _alembic(root, "upgrade", "head")
    assert _catalog(scratch_url) == ((True,), (True,))


# -- env.py edits, unit ----------------------------------------------------------------------------


def test_edit_keeps_comments_and_handles_trailing_commas() -> None:
    source = (
        '"""env."""\n'
        "from alembic import context\n"
        "import models  # the models\n"
        "\n"
        "def run():\n"
        "    context.configure(\n"
        "        connection=connection,\n"
        "        target_metadata=models.metadata,  # keep me\n"
        "    )\n"
        "    context.configure(\n"
        "        url=url,\n"
        "        target_metadata=target_metadata  # and me\n"
        "    )\n"
    )
    assert enable_in_source(source) == (
        '"""env."""\n'
        "from alembic import context\n"
        "import models  # the models\n"
        "import alembic_safety.rewrite\n"
        "\n"
        "def run():\n"
        "    context.configure(\n"
        "        connection=connection,\n"
        "        target_metadata=models.metadata,  # keep me\n"
        f"        process_revision_directives={HOOK},\n"
        "    )\n"
        "    context.configure(\n"
        "        url=url,\n"
        "        target_metadata=target_metadata,  # and me\n"
        f"        process_revision_directives={HOOK},\n"
        "    )\n"
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("context.configure()", f"context.configure(process_revision_directives={HOOK})"),
        (
            "context.configure(connection=c, **kwargs)",
            f"context.configure(connection=c, **kwargs, process_revision_directives={HOOK})",
        ),
        (
            "context.configure(url='héllo', literal_binds=True)",
            "context.configure(url='héllo', literal_binds=True, "
            f"process_revision_directives={HOOK})",
        ),
        (
            "context.configure(process_revision_directives=writer.chain(\n    other), url=u)",
            "context.configure(process_revision_directives=alembic_safety.rewrite.compose("
            "writer.chain(\n    other)), url=u)",
        ),
    ],
)
def test_edit_of_one_call(call: str, expected: str) -> None:
    source = f"from alembic import context\n{call}\n"
    edited = enable_in_source(source)
    assert edited == f"from alembic import context\n{IMPORT}\n{expected}\n"
    compile(edited, "env.py", "exec")
    assert enable_in_source(edited) == edited  # idempotent


def test_edit_recognises_the_hook_however_it_is_imported() -> None:
    for source in [
        "from alembic_safety.rewrite import process_revision_directives as p\n"
        "context.configure(process_revision_directives=p)\n",
        "from alembic_safety.rewrite import compose\n"
        "context.configure(process_revision_directives=compose(mine))\n",
        f"{IMPORT}\ncontext.configure(process_revision_directives={HOOK})\n",
    ]:
        assert enable_in_source(source) == source
    # A function of the user's that happens to have our hook's name is composed, not trusted.
    own = (
        "def process_revision_directives(c, r, d): ...\n"
        "context.configure(process_revision_directives=process_revision_directives)\n"
    )
    assert "compose(process_revision_directives)" in enable_in_source(own)


def test_edit_keeps_windows_line_endings() -> None:
    source = "import x\r\ncontext.configure(\r\n    a=1,\r\n)\r\n"
    edited = enable_in_source(source)
    assert edited == (
        f"import x\r\n{IMPORT}\r\ncontext.configure(\r\n    a=1,\r\n"
        f"    process_revision_directives={HOOK},\r\n)\r\n"
    )


# -- the guard: a processed script is never processed again ----------------------------------------


def test_running_the_hook_twice_changes_nothing_more() -> None:
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops

    from alembic_safety.rewrite import compose, process_revision_directives

    script = ops.MigrationScript(
        rev_id="aaaa00000001",
        message="index and fk",
        upgrade_ops=ops.UpgradeOps(
            [
                ops.CreateIndexOp("ix_orders_total", "orders", ["total"]),
                ops.CreateForeignKeyOp("fk_o_u", "orders", "users", ["user_id"], ["id"]),
            ]
        ),
        downgrade_ops=ops.DowngradeOps(
            [
                ops.DropConstraintOp("fk_o_u", "orders", type_="foreignkey"),
                ops.DropIndexOp("ix_orders_total", "orders"),
            ]
        ),
    )
    directives = [script]
    context = MigrationContext.configure(dialect_name="postgresql")
    process_revision_directives(context, None, directives)
    once = [(str(s.message), render_python_code(s.upgrade_ops)) for s in directives]
    assert len(once) == 2  # the VALIDATE follow-up
    compose(process_revision_directives)(context, None, directives)  # env.py + plugin + CLI
    assert [(str(s.message), render_python_code(s.upgrade_ops)) for s in directives] == once


def test_init_finds_env_py_through_pyproject_toml(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\n'
    )
    env_py = migrations / "env.py"
    env_py.write_text("from alembic import context\ncontext.configure(url=url)\n")
    result = run_cli("init", "-c", tmp_path / "pyproject.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "enabled the autogenerate rewriter in migrations/env.py" in result.stdout
    assert env_py.read_text() == (
        f"from alembic import context\n{IMPORT}\n"
        f"context.configure(url=url, process_revision_directives={HOOK})\n"
    )
