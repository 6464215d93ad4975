"""The lock and rewrite claims of the rule registry, proved on a real PostgreSQL server.

Every rule declares the strongest lock its operation takes (``lock``), whether it rewrites the
table (``rewrites``) and a :class:`~alembic_safety.rules.base.Verification` statement that
exhibits both. Here each statement runs on the server (``tests/pgfacts.py``) and the observed
``pg_locks`` / ``relfilenode`` must match the claim; the same statement fed to ``assess_sql``
must produce the rule's code.

Beyond the registry, the decisions of the two matrix rules are cross-checked against the server:
for each type change (AS105) and each column default (AS102) the very same Alembic op object is
both linted and rendered by Alembic to the SQL it would run, and "the linter flags it" must equal
"PostgreSQL rewrote the table".

The server is read from ``ALEMBIC_SAFETY_TEST_PG``; the database tests skip when unreachable.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from pgfacts import Observation, observe, scratch_database, strongest

from alembic_safety.risk import assess_operations, assess_sql
from alembic_safety.rules import registry
from alembic_safety.rules.base import Rule, Verification

PG_URL = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

#: Each observation starts from an empty public schema: setups commit, and a statement run in
#: autocommit mode (CONCURRENTLY) commits too.
RESET = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"

VERIFIED: list[Rule] = [rule for rule in registry if rule.verification is not None]


def pg_lock_mode(lock: str) -> str:
    """``"ACCESS EXCLUSIVE"`` → ``"AccessExclusiveLock"`` (the ``pg_locks.mode`` spelling)."""
    return "".join(word.capitalize() for word in lock.split()) + "Lock"


def hold_sql_for(verification: Verification) -> str | None:
    """CONCURRENTLY statements run in autocommit; pin them with a reader so sampling is exact."""
    if not verification.in_transaction and "CONCURRENTLY" in verification.statement.upper():
        return f"SELECT count(*) FROM {verification.relation}"
    return None


def codes(findings: Any) -> list[str]:
    return sorted(f.code for f in findings)


def _reachable() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def conninfo() -> Iterator[str]:
    """One scratch database for the module; every observation resets its public schema."""
    problem = _reachable()
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set ALEMBIC_SAFETY_TEST_PG): {problem}")
    with scratch_database(PG_URL) as info:
        yield info


_observations: dict[tuple[str, str], Observation] = {}


def observe_rule(conninfo: str, rule: Rule) -> Observation:
    """The observation of ``rule.verification`` (made once per database and rule)."""
    key = (conninfo, rule.code)
    if key not in _observations:
        verification = rule.verification
        assert verification is not None
        _observations[key] = observe(
            conninfo,
            RESET + verification.setup,
            verification.statement,
            in_transaction=verification.in_transaction,
            hold_sql=hold_sql_for(verification),
        )
    return _observations[key]


def rule_params(bugs: dict[str, str] | None = None) -> list[Any]:
    bugs = bugs or {}
    return [
        pytest.param(
            rule,
            id=rule.code,
            marks=pytest.mark.xfail(strict=True, reason=f"BUG: {bugs[rule.code]}")
            if rule.code in bugs
            else (),
        )
        for rule in VERIFIED
    ]


# -- the registry's claims -----------------------------------------------------------------


def test_every_rule_that_claims_a_lock_has_a_verification() -> None:
    claiming = {rule.code for rule in registry if rule.lock is not None or rule.rewrites}
    assert claiming == {rule.code for rule in VERIFIED}


@pytest.mark.postgres
@pytest.mark.parametrize("rule", rule_params())
def test_lock_claim(conninfo: str, rule: Rule) -> None:
    verification = rule.verification
    assert verification is not None
    assert rule.lock is not None
    obs = observe_rule(conninfo, rule)
    assert obs.error is None, obs.error
    held = obs.locks.get(verification.relation, frozenset())
    assert strongest(held) == pg_lock_mode(rule.lock), (
        f"{rule.code} claims {rule.lock} on {verification.relation}; held {sorted(held)} "
        f"(all: {obs.locks})"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("rule", rule_params())
def test_rewrite_claim(conninfo: str, rule: Rule) -> None:
    verification = rule.verification
    assert verification is not None
    obs = observe_rule(conninfo, rule)
    assert obs.error is None, obs.error
    expected = frozenset({verification.relation}) if rule.rewrites else frozenset()
    assert obs.rewritten == expected, f"{rule.code} claims rewrites={rule.rewrites}"


@pytest.mark.parametrize("rule", rule_params())
def test_verification_statement_is_flagged(rule: Rule) -> None:
    verification = rule.verification
    assert verification is not None
    findings = assess_sql(verification.statement, autocommit=not verification.in_transaction)
    if rule.code == "AS401":
        # The verification is the safe form (autocommit); inside Alembic's transaction it fails.
        assert rule.code not in codes(findings)
        assert rule.code in codes(assess_sql(verification.statement, autocommit=False))
    else:
        assert rule.code in codes(findings), [(f.code, f.message) for f in findings]


# -- facts behind rules whose verification cannot show the danger --------------------------


@pytest.mark.postgres
def test_add_not_null_column_fails_on_a_table_with_rows(conninfo: str) -> None:
    statement = "ALTER TABLE t ADD COLUMN c int NOT NULL"
    setup = RESET + "CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;"
    obs = observe(conninfo, setup, statement)
    assert obs.error is not None
    assert obs.error.startswith("23502:"), obs
    assert "AS101" in codes(assess_sql(statement))


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            "CREATE INDEX CONCURRENTLY t_a_idx ON t (a); "
            "CREATE INDEX CONCURRENTLY t_b_idx ON t (b)",
            id="two-concurrent-builds",
        ),
        pytest.param(
            "SET lock_timeout = '5s'; CREATE INDEX CONCURRENTLY t_a_idx ON t (a)",
            id="set-then-concurrent-build",
        ),
    ],
)
def test_concurrently_in_a_multi_statement_string_fails_in_autocommit(
    conninfo: str, statement: str
) -> None:
    """Ground truth for AS401 on multi-statement strings (test_rules.py)."""
    setup = RESET + "CREATE TABLE t (id bigserial PRIMARY KEY, a int, b int);"
    obs = observe(conninfo, setup, statement, in_transaction=False)
    assert obs.error is not None
    assert obs.error.startswith("25001:"), obs


# -- the same Alembic op, linted and run ---------------------------------------------------


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


OpsFactory = Callable[[], list[ops.MigrateOperation]]

BASE_TYPES = "CREATE TABLE t (id bigserial PRIMARY KEY, c {type});"
ROWS = "INSERT INTO t (c) SELECT {value} FROM generate_series(1, 100);"
UTC = "SET timezone = 'UTC'"
PARIS = "SET timezone = 'Europe/Paris'"


def type_case(
    case_id: str,
    existing: Any,
    new: Any,
    column_sql: str,
    value_sql: str,
    *,
    timezone: str | None = None,
    **kw: Any,
) -> Any:
    def make() -> list[ops.MigrateOperation]:
        before = [ops.ExecuteSQLOp(timezone)] if timezone else []
        return [
            *before,
            ops.AlterColumnOp("t", "c", existing_type=existing, modify_type=new, **kw),
        ]

    setup = BASE_TYPES.format(type=column_sql) + ROWS.format(value=value_sql)
    if timezone:
        setup += timezone + ";"
    return pytest.param(make, setup, id=case_id)


TYPE_CASES = [
    type_case("integer-to-bigint", sa.Integer(), sa.BigInteger(), "int", "1"),
    type_case("varchar20-to-varchar10", sa.String(20), sa.String(10), "varchar(20)", "'x'"),
    type_case("text-to-varchar10", sa.Text(), sa.String(10), "text", "'x'"),
    type_case("varchar20-to-varchar50", sa.String(20), sa.String(50), "varchar(20)", "'x'"),
    type_case("varchar20-to-text", sa.String(20), sa.Text(), "varchar(20)", "'x'"),
    type_case("varchar20-to-varchar", sa.String(20), sa.String(), "varchar(20)", "'x'"),
    type_case("text-to-varchar", sa.Text(), sa.String(), "text", "'x'"),
    type_case("numeric10_2-to-12_2", sa.Numeric(10, 2), sa.Numeric(12, 2), "numeric(10,2)", "1.5"),
    type_case("numeric10_2-to-12_4", sa.Numeric(10, 2), sa.Numeric(12, 4), "numeric(10,2)", "1.5"),
    type_case("numeric10_2-to-8_2", sa.Numeric(10, 2), sa.Numeric(8, 2), "numeric(10,2)", "1.5"),
    type_case("numeric10_2-to-numeric", sa.Numeric(10, 2), sa.Numeric(), "numeric(10,2)", "1.5"),
    type_case(
        "timestamp-to-timestamptz-utc",
        sa.DateTime(),
        sa.DateTime(timezone=True),
        "timestamp",
        "now()",
        timezone=UTC,
    ),
    type_case(
        "timestamp-to-timestamptz-paris",
        sa.DateTime(),
        sa.DateTime(timezone=True),
        "timestamp",
        "now()",
        timezone=PARIS,
    ),
    type_case(
        "timestamptz-to-timestamp-utc",
        sa.DateTime(timezone=True),
        sa.DateTime(),
        "timestamptz",
        "now()",
        timezone=UTC,
    ),
    type_case(
        "varchar20-to-varchar50-using-expression",
        sa.String(20),
        sa.String(50),
        "varchar(20)",
        "'x'",
        postgresql_using="upper(c)",
    ),
    type_case(
        "varchar20-to-varchar50-using-binary-cast",
        sa.String(20),
        sa.String(50),
        "varchar(20)",
        "'x'",
        postgresql_using="c::varchar(50)",
    ),
    type_case(
        "varchar20-to-text-using-binary-cast",
        sa.String(20),
        sa.Text(),
        "varchar(20)",
        "'x'",
        postgresql_using="c::text",
    ),
    type_case(
        "integer-to-bigint-using",
        sa.Integer(),
        sa.BigInteger(),
        "int",
        "1",
        postgresql_using="c::bigint",
    ),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("make", "setup"), TYPE_CASES)
def test_type_change_decision_matches_postgres(conninfo: str, make: OpsFactory, setup: str) -> None:
    flagged = "AS105" in codes(assess_operations(make()))
    alter = [op for op in make() if isinstance(op, ops.AlterColumnOp)]
    obs = observe(conninfo, RESET + setup, alembic_sql(*alter))
    assert obs.error is None, obs.error
    assert flagged is ("t" in obs.rewritten), (
        f"AS105 flagged={flagged} but PostgreSQL rewritten={sorted(obs.rewritten)}"
    )


DEFAULT_SETUP = (
    "CREATE TABLE t (id bigserial PRIMARY KEY); INSERT INTO t SELECT FROM generate_series(1, 100);"
    "CREATE SEQUENCE s;"
    # plpgsql: a LANGUAGE sql body this simple would be inlined (and seen as constant).
    "CREATE FUNCTION my_fn() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'x'; END $$;"
)

DEFAULTS = [
    ("random", sa.text("random()")),
    ("gen_random_uuid", sa.text("gen_random_uuid()")),
    ("func-gen_random_uuid-object", sa.func.gen_random_uuid()),
    ("clock_timestamp", sa.text("clock_timestamp()")),
    ("nextval", sa.text("nextval('s')")),
    ("unknown-user-function", sa.text("my_fn()")),
    ("now", sa.text("now()")),
    ("func-now-object", sa.func.now()),
    ("current_timestamp", sa.text("CURRENT_TIMESTAMP")),
    ("string-literal", "abc"),
    ("text-0", sa.text("0")),
    ("jsonb-literal", sa.text("'{}'::jsonb")),
    ("timezone-utc-now", sa.text("timezone('utc', now())")),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "default", [pytest.param(default, id=case_id) for case_id, default in DEFAULTS]
)
def test_column_default_decision_matches_postgres(conninfo: str, default: Any) -> None:
    def make() -> ops.AddColumnOp:
        return ops.AddColumnOp("t", sa.Column("c", sa.Text(), server_default=default))

    flagged = "AS102" in codes(assess_operations([make()]))
    obs = observe(conninfo, RESET + DEFAULT_SETUP, alembic_sql(make()))
    assert obs.error is None, obs.error
    assert flagged is ("t" in obs.rewritten), (
        f"AS102 flagged={flagged} but PostgreSQL rewritten={sorted(obs.rewritten)}"
    )


ADD_COLUMN_SETUP = (
    "CREATE TABLE t (id bigint PRIMARY KEY, a int);"
    "INSERT INTO t SELECT g, g FROM generate_series(1, 100) g;"
)

ColumnFactory = Callable[[], "sa.Column[Any]"]

#: (id, column, strongest lock on t, rewrites t, builds an index on t, the rule that should fire)
ADD_COLUMN_CASES: list[tuple[str, ColumnFactory, str, bool, bool, str | None]] = [
    (
        "integer-primary-key-is-serial",
        lambda: sa.Column("n", sa.Integer(), primary_key=True),
        "AccessExclusiveLock",
        True,
        False,
        "AS102",
    ),
    (
        "unique-column-builds-index",
        lambda: sa.Column("email", sa.Text(), unique=True),
        "AccessExclusiveLock",
        False,
        True,
        "AS110",
    ),
    (
        "indexed-column-builds-index",
        lambda: sa.Column("email", sa.Text(), index=True),
        "AccessExclusiveLock",
        False,
        True,
        "AS106",
    ),
    (
        "identity-column",
        lambda: sa.Column("c", sa.Integer(), sa.Identity()),
        "AccessExclusiveLock",
        True,
        False,
        "AS103",
    ),
    (
        "not-null-constant-default",
        lambda: sa.Column("c", sa.Integer(), nullable=False, server_default=sa.text("0")),
        "AccessExclusiveLock",
        False,
        False,
        None,
    ),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("make_column", "lock", "rewrites", "index_built"),
    [pytest.param(*case[1:5], id=case[0]) for case in ADD_COLUMN_CASES],
)
def test_add_column_as_alembic_renders_it(
    conninfo: str, make_column: ColumnFactory, lock: str, rewrites: bool, index_built: bool
) -> None:
    """What ``op.add_column`` really does on the server (ground truth for the next test)."""
    obs = observe(
        conninfo, RESET + ADD_COLUMN_SETUP, alembic_sql(ops.AddColumnOp("t", make_column()))
    )
    assert obs.error is None, obs.error
    held = obs.locks.get("t", frozenset())
    assert strongest(held) == lock
    assert ("t" in obs.rewritten) is rewrites
    # Building an index on t (or rebuilding its primary key in a rewrite) holds ShareLock on t.
    assert ("ShareLock" in held) is (index_built or rewrites), sorted(held)


@pytest.mark.parametrize(
    ("make_column", "expected"),
    [pytest.param(case[1], case[5], id=case[0]) for case in ADD_COLUMN_CASES],
)
def test_add_column_is_linted_as_it_runs(make_column: ColumnFactory, expected: str | None) -> None:
    found = codes(assess_operations([ops.AddColumnOp("t", make_column())]))
    about_add_column = {"AS101", "AS102", "AS103", "AS106", "AS110", "AS111"}
    if expected is None:
        assert not about_add_column & set(found), found
    else:
        assert expected in found, found
