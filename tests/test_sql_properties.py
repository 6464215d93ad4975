"""Property tests of the SQL layer: it never raises, and CREATE INDEX is always understood."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from alembic_safety.analysis.sql import parse
from alembic_safety.risk import assess_sql

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Words that cannot be an unquoted table, index or column name.
_NOT_IDENTIFIERS = frozenset(RESERVED_KEYWORDS) | frozenset(TYPE_FUNC_NAME_KEYWORDS)

unquoted_identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True).filter(
    lambda name: name not in _NOT_IDENTIFIERS
)

#: Anything PostgreSQL accepts between double quotes, within its 63-byte name limit.
quoted_names = st.text(
    alphabet=st.characters(blacklist_characters='"\x00', blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
).filter(lambda name: len(name.encode("utf-8")) <= 63)


@FAST
@given(st.text())
@example("")
@example("   ;;; ")
@example("$$")
@example("CREATE INDEX CONCURRENTLY")
@example("SELECT :x, %(y)s, %s, $1::int")
@example("DO $$ BEGIN UPDATE t SET a = 1; END $$")
@example("SELECT 1\x00; DROP TABLE t")
def test_parse_and_assess_never_raise(text: str) -> None:
    parsed = parse(text)
    assert parsed.text == text
    assert parsed.error is None or parsed.statements == ()
    for direction in ("upgrade", "downgrade"):
        findings = assess_sql(text, direction=direction)
        assert all(f.direction == direction for f in findings)


def test_parse_never_raises_on_lone_surrogates() -> None:
    parsed = parse("SELECT '\ud800'")
    assert parsed.statements == ()
    assert assess_sql("SELECT '\ud800'") is not None


@FAST
@given(ix=unquoted_identifiers, tbl=unquoted_identifiers, col=unquoted_identifiers)
def test_create_index_is_one_as106_on_its_table(ix: str, tbl: str, col: str) -> None:
    findings = assess_sql(f"CREATE INDEX {ix} ON {tbl} ({col})")
    assert [(f.code, f.table) for f in findings] == [("AS106", tbl)]
    assert f'"{ix}"' in findings[0].message


@FAST
@given(ix=quoted_names, tbl=quoted_names, col=quoted_names)
def test_create_index_with_quoted_names(ix: str, tbl: str, col: str) -> None:
    def quote(name: str) -> str:
        return '"' + name + '"'

    findings = assess_sql(f"CREATE INDEX {quote(ix)} ON {quote(tbl)} ({quote(col)})")
    assert [(f.code, f.table) for f in findings] == [("AS106", tbl)]


@FAST
@given(tbl=unquoted_identifiers, schema=unquoted_identifiers)
def test_create_index_concurrently_is_only_a_transaction_problem(tbl: str, schema: str) -> None:
    statement = f"CREATE INDEX CONCURRENTLY ix ON {schema}.{tbl} (a)"
    findings = assess_sql(statement)
    assert [(f.code, f.table) for f in findings] == [("AS401", tbl)]
    assert assess_sql(statement, autocommit=True) == []
