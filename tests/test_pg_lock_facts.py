# ruff: noqa: E501  (the CASES table below is kept one fact per line)
"""Lock and rewrite facts of PostgreSQL 15, checked against a real server.

Every rule in ``alembic_safety`` rests on a claim of the form "statement S
takes lock L on relation R and does / does not rewrite R". This module is the
ground truth for those claims: each case runs one statement on a freshly
built schema (see :data:`BASE_SETUP`) via :func:`pgfacts.observe` and asserts

* the *strongest* lock mode held on one relation -- what concurrent traffic
  actually waits for -- and, for the deterministic in-transaction cases, the
  exact set of modes on that relation (so e.g. the ``ShareLock`` that betrays
  an index build, or the ``RowShareLock`` that betrays a foreign-key
  validation scan, cannot silently appear or vanish);
* the exact set of rewritten tables (``relfilenode`` changed).

Where PostgreSQL disagreed with the folklore the cases were written from, the
case follows the server and a comment says so. The server is read from
``ALEMBIC_SAFETY_TEST_PG``; the tests skip if it is not reachable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pgfacts import Observation, observe, scratch_database, strongest

PG_URL = os.environ.get("ALEMBIC_SAFETY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

AS = "AccessShareLock"
RS = "RowShareLock"
RE = "RowExclusiveLock"
SUE = "ShareUpdateExclusiveLock"
S = "ShareLock"
SRE = "ShareRowExclusiveLock"
AE = "AccessExclusiveLock"

# Recreated from scratch for every case (the whole public schema), so a case
# that commits (autocommit mode) or renames/drops things cannot leak into the
# next one. ~1000 rows: enough that a rewrite is a real rewrite, small enough
# that the whole module stays fast.
BASE_SETUP = """
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;
CREATE TABLE p (id bigserial PRIMARY KEY);
INSERT INTO p SELECT FROM generate_series(1, 1000);
CREATE TABLE t (
    id bigserial PRIMARY KEY,
    a int,
    v varchar(20),
    n numeric(10, 2),
    ts timestamp,
    s text
);
INSERT INTO t (a, v, n, ts, s)
SELECT g, 'v' || g, g / 3.0, timestamp '2024-01-01' + g * interval '1 minute', 'row ' || g
FROM generate_series(1, 1000) g;
"""

# For the statements observed by sampling without a holder (VACUUM FULL):
# enough work that the statement spans hundreds of sampling round trips.
BIG = "INSERT INTO t (a) SELECT g FROM generate_series(1, 200000) g;"
# A table without a primary key, for ADD PRIMARY KEY.
NOPK = "CREATE TABLE nopk (id bigint NOT NULL); INSERT INTO nopk SELECT generate_series(1, 1000);"
# Holds AccessShareLock on t and a snapshot, so every CONCURRENTLY variant on t
# has to wait for it while holding its own locks (see pgfacts.observe).
HOLD_T = "SELECT count(*) FROM t"

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Case:
    """One fact: ``statement`` holds ``mode`` (the strongest) on ``relation``.

    ``also`` lists the weaker modes that are held on the same relation too;
    for in-transaction cases ``{mode} | also`` must match exactly. ``rewrite``
    says whether ``relation`` is the one table rewritten (else none is).
    ``error`` is an expected SQLSTATE; then no lock or rewrite is checked.
    """

    id: str
    setup_extra: str
    statement: str
    relation: str
    mode: str | None
    rewrite: bool
    also: frozenset[str] = frozenset()
    in_transaction: bool = True
    hold_sql: str | None = None
    error: str | None = None


def case(
    id: str,
    statement: str,
    relation: str,
    mode: str | None,
    rewrite: bool,
    *also: str,
    setup: str = "",
    in_transaction: bool = True,
    hold_sql: str | None = None,
    error: str | None = None,
) -> Case:
    """Terse constructor so the fact table below reads like a table."""
    return Case(
        id=id,
        setup_extra=setup,
        statement=statement,
        relation=relation,
        mode=mode,
        rewrite=rewrite,
        also=frozenset(also),
        in_transaction=in_transaction,
        hold_sql=hold_sql,
        error=error,
    )


ALTER = "ALTER TABLE t "
FK = "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id)"
CK = "ALTER TABLE t ADD CONSTRAINT ck CHECK (a >= 0)"

# One fact per line on purpose: this is a table, not code.
# fmt: off
CASES: list[Case] = [
    # --- ADD COLUMN -------------------------------------------------------
    case("add_column_nullable", ALTER + "ADD COLUMN c int", "t", AE, False),
    # PG11+: a non-volatile default is stored in pg_attribute, no rewrite.
    case("add_column_not_null_default", ALTER + "ADD COLUMN c int NOT NULL DEFAULT 0", "t", AE, False),
    # A rewrite rebuilds every index: the ShareLock on t is that rebuild.
    case("add_column_volatile_default", ALTER + "ADD COLUMN c float8 DEFAULT random()", "t", AE, True, S),
    case("add_column_uuid_default", ALTER + "ADD COLUMN c uuid DEFAULT gen_random_uuid()", "t", AE, True, S),
    # now() is STABLE: evaluated once at ALTER time, stored like a constant.
    case("add_column_now_default", ALTER + "ADD COLUMN c timestamptz DEFAULT now()", "t", AE, False),
    case("add_column_stored_generated", ALTER + "ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED", "t", AE, True, S),
    # Identity/serial: nextval() is volatile -> rewrite; the AccessShareLock
    # on t comes from creating the owned sequence (t_c_seq, which gets
    # AccessExclusive + ShareRowExclusive + RowExclusive).
    case("add_column_identity", ALTER + "ADD COLUMN c bigint GENERATED ALWAYS AS IDENTITY", "t", AE, True, S, AS),
    case("add_column_bigserial", ALTER + "ADD COLUMN c bigserial", "t", AE, True, S, AS),
    # --- ALTER COLUMN: constraints and defaults ----------------------------
    # SET NOT NULL scans the table (unless a valid CHECK proves it) but never
    # rewrites; the scan happens under AccessExclusive.
    case("set_not_null", ALTER + "ALTER COLUMN a SET NOT NULL", "t", AE, False),
    case("drop_not_null", ALTER + "ALTER COLUMN a DROP NOT NULL", "t", AE, False, setup=ALTER + "ALTER COLUMN a SET NOT NULL;"),
    case("set_default", ALTER + "ALTER COLUMN a SET DEFAULT 0", "t", AE, False),
    # --- ALTER COLUMN TYPE -------------------------------------------------
    case("type_int_to_bigint", ALTER + "ALTER COLUMN a TYPE bigint", "t", AE, True, S),
    case("type_int_to_bigint_using", ALTER + "ALTER COLUMN a TYPE bigint USING a::bigint", "t", AE, True, S),
    # Same type with a no-op USING: PG15 recognises it, no rewrite.
    case("type_int_to_int_using", ALTER + "ALTER COLUMN a TYPE int USING a::int", "t", AE, False),
    case("type_varchar_widen", ALTER + "ALTER COLUMN v TYPE varchar(50)", "t", AE, False),
    case("type_varchar_to_text", ALTER + "ALTER COLUMN v TYPE text", "t", AE, False),
    case("type_varchar_to_unbounded", ALTER + "ALTER COLUMN v TYPE varchar", "t", AE, False),
    case("type_varchar_narrow", ALTER + "ALTER COLUMN v TYPE varchar(10)", "t", AE, True, S),
    # Verified on PG15: text -> varchar(n) DOES rewrite (the length-checking
    # coercion is not binary), while text -> unbounded varchar does not.
    case("type_text_to_varchar_n", ALTER + "ALTER COLUMN s TYPE varchar(10)", "t", AE, True, S),
    case("type_text_to_varchar", ALTER + "ALTER COLUMN s TYPE varchar", "t", AE, False),
    case("type_numeric_widen_precision", ALTER + "ALTER COLUMN n TYPE numeric(12, 2)", "t", AE, False),
    case("type_numeric_change_scale", ALTER + "ALTER COLUMN n TYPE numeric(12, 4)", "t", AE, True, S),
    case("type_numeric_unconstrained", ALTER + "ALTER COLUMN n TYPE numeric", "t", AE, False),
    # PG12+: timestamp -> timestamptz is binary-compatible only when the
    # session time zone is UTC.
    case("type_timestamptz_utc", ALTER + "ALTER COLUMN ts TYPE timestamptz", "t", AE, False, setup="SET timezone = 'UTC';"),
    case("type_timestamptz_paris", ALTER + "ALTER COLUMN ts TYPE timestamptz", "t", AE, True, S, setup="SET timezone = 'Europe/Paris';"),
    # --- indexes -----------------------------------------------------------
    case("create_index", "CREATE INDEX t_a_idx ON t (a)", "t", S, False),
    case("create_index/new_index", "CREATE INDEX t_a_idx ON t (a)", "t_a_idx", AE, False),
    case("create_index_concurrently", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a)", "t", SUE, False, in_transaction=False, hold_sql=HOLD_T),
    case("create_index_concurrently_in_tx", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a)", "t", None, False, error="25001"),
    case("drop_index", "DROP INDEX t_a_idx", "t", AE, False, setup="CREATE INDEX t_a_idx ON t (a);"),
    case("drop_index/index", "DROP INDEX t_a_idx", "t_a_idx", AE, False, setup="CREATE INDEX t_a_idx ON t (a);"),
    case("drop_index_concurrently", "DROP INDEX CONCURRENTLY t_a_idx", "t", SUE, False, setup="CREATE INDEX t_a_idx ON t (a);", in_transaction=False, hold_sql=HOLD_T),
    case("reindex_table", "REINDEX TABLE t", "t", S, False),
    case("reindex_table/pkey", "REINDEX TABLE t", "t_pkey", AE, False),
    case("reindex_table_concurrently", "REINDEX TABLE CONCURRENTLY t", "t", SUE, False, in_transaction=False, hold_sql=HOLD_T),
    # --- foreign keys ------------------------------------------------------
    # The validation scan (SELECT ... FOR KEY SHARE on p) adds AccessShare on
    # t and AccessShare + RowShare on p.
    case("add_fk", FK, "t", SRE, False, AS),
    case("add_fk/referenced", FK, "p", SRE, False, AS, RS),
    # NOT VALID: identical strongest locks, but no validation scan, hence no
    # RowShareLock on p.
    case("add_fk_not_valid", FK + " NOT VALID", "t", SRE, False, AS),
    case("add_fk_not_valid/referenced", FK + " NOT VALID", "p", SRE, False, AS),
    case("validate_fk", ALTER + "VALIDATE CONSTRAINT fk", "t", SUE, False, AS, setup=FK + " NOT VALID;"),
    case("validate_fk/referenced", ALTER + "VALIDATE CONSTRAINT fk", "p", RS, False, AS, setup=FK + " NOT VALID;"),
    # Dropping a foreign key locks the *referenced* table too (its triggers go).
    case("drop_fk", ALTER + "DROP CONSTRAINT fk", "t", AE, False, setup=FK + ";"),
    case("drop_fk/referenced", ALTER + "DROP CONSTRAINT fk", "p", AE, False, setup=FK + ";"),
    # --- CHECK / UNIQUE / PRIMARY KEY --------------------------------------
    case("add_check", CK, "t", AE, False),
    case("add_check_not_valid", CK + " NOT VALID", "t", AE, False),
    case("validate_check", ALTER + "VALIDATE CONSTRAINT ck", "t", SUE, False, setup=CK + " NOT VALID;"),
    # Builds index u under ShareLock while holding AccessExclusive.
    case("add_unique", ALTER + "ADD CONSTRAINT u UNIQUE (a)", "t", AE, False, S),
    case("add_unique/new_index", ALTER + "ADD CONSTRAINT u UNIQUE (a)", "u", AE, False),
    # USING INDEX: no ShareLock on t = no index build.
    case("add_unique_using_index", ALTER + "ADD CONSTRAINT u UNIQUE USING INDEX t_a_key", "t", AE, False, setup="CREATE UNIQUE INDEX t_a_key ON t (a);"),
    case("add_unique_using_index/index", ALTER + "ADD CONSTRAINT u UNIQUE USING INDEX t_a_key", "t_a_key", SUE, False, AS, setup="CREATE UNIQUE INDEX t_a_key ON t (a);"),
    case("add_primary_key", "ALTER TABLE nopk ADD PRIMARY KEY (id)", "nopk", AE, False, S, setup=NOPK),
    case("add_primary_key_using_index", "ALTER TABLE nopk ADD CONSTRAINT nopk_pkey PRIMARY KEY USING INDEX nopk_id_key", "nopk", AE, False, setup=NOPK + "CREATE UNIQUE INDEX nopk_id_key ON nopk (id);"),
    # --- whole-table DDL ---------------------------------------------------
    case("drop_table", "DROP TABLE t", "t", AE, False),
    # TRUNCATE gives the table a new (empty) relfilenode: reported as a rewrite.
    case("truncate", "TRUNCATE t", "t", AE, True, S),
    case("rename_column", ALTER + "RENAME COLUMN a TO b", "t", AE, False),
    # Locks are reported under the pre-statement name.
    case("rename_table", ALTER + "RENAME TO t2", "t", AE, False),
    case("drop_column", ALTER + "DROP COLUMN a", "t", AE, False),
    case("lock_table", "LOCK TABLE t", "t", AE, False),
    # VACUUM FULL cannot run in a transaction block: sampled in autocommit on
    # a bigger table (strongest mode only; the ShareLock of its index rebuild
    # is seen too, by sampling).
    case("vacuum_full", "VACUUM FULL t", "t", AE, True, setup=BIG, in_transaction=False),
    case("vacuum_full_in_tx", "VACUUM FULL t", "t", None, False, error="25001"),
    case("cluster", "CLUSTER t USING t_pkey", "t", AE, True, S),
    case("set_unlogged", ALTER + "SET UNLOGGED", "t", AE, True, S),
    case("set_logged", ALTER + "SET LOGGED", "t", AE, True, S, setup=ALTER + "SET UNLOGGED;"),
    # Moving to the tablespace it is already in is a no-op: no rewrite, but
    # still AccessExclusive.
    case("set_tablespace_same", ALTER + "SET TABLESPACE pg_default", "t", AE, False),
    # --- DML ---------------------------------------------------------------
    case("update", "UPDATE t SET a = 1", "t", RE, False),
    case("delete", "DELETE FROM t", "t", RE, False),
]
# fmt: on


@pytest.fixture(scope="module")
def conninfo() -> Iterator[str]:
    """One scratch database for the module; each case rebuilds the schema."""
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set ALEMBIC_SAFETY_TEST_PG): {exc}")
    with scratch_database(PG_URL) as info:
        yield info


def _run(conninfo: str, c: Case) -> Observation:
    return observe(
        conninfo,
        BASE_SETUP + c.setup_extra,
        c.statement,
        in_transaction=c.in_transaction,
        hold_sql=c.hold_sql,
    )


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_lock_fact(conninfo: str, c: Case) -> None:
    obs = _run(conninfo, c)
    if c.error is not None:
        assert obs.error is not None, obs
        assert obs.error.startswith(c.error + ":"), obs.error
        return
    assert obs.error is None, obs.error
    held = obs.locks.get(c.relation, frozenset())
    assert strongest(held) == c.mode, f"{c.relation}: {sorted(held)} (all: {obs.locks})"
    if c.in_transaction:
        assert held == {c.mode} | c.also, f"{c.relation}: {sorted(held)}"
    expected_rewrite = frozenset({c.relation}) if c.rewrite else frozenset()
    assert obs.rewritten == expected_rewrite


def test_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
