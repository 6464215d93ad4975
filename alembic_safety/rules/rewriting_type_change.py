"""AS105 rewriting-type-change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.analysis.standins import is_stand_in
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw, type_code


def _pg_type(type_: Any) -> str | None:
    if type_ is None or is_stand_in(type_) or isinstance(type_, sa.types.NullType):
        return None
    try:
        from sqlalchemy.dialects import postgresql

        return str(type_.compile(dialect=postgresql.dialect())).lower()  # type: ignore[no-untyped-call]
    except Exception:
        return None


def _is_string(type_: Any) -> bool:
    return isinstance(type_, sa.String) and not isinstance(type_, (sa.CHAR, sa.NCHAR, sa.Enum))


def _is_timestamp(type_: Any) -> bool:
    return isinstance(type_, sa.DateTime)


_PLAIN_USING = re.compile(
    r'^\(*\s*"?(?P<column>\w+)"?\s*\)*\s*(::\s*[\w\s(),]+?)?\s*\)*$|'
    r'^CAST\s*\(\s*"?(?P<cast_column>\w+)"?\s+AS\s+[\w\s(),]+\)$',
    re.IGNORECASE,
)


def plain_using(using: str | None, column: str) -> bool:
    """True for ``USING col`` / ``USING col::newtype`` / ``CAST(col AS newtype)``: the same
    conversion as without USING, so it rewrites only when the type change itself does."""
    if not using:
        return False
    match = _PLAIN_USING.match(using.strip())
    if match is None:
        return False
    return (match.group("column") or match.group("cast_column")) == column


def rewrite_reason(
    old: Any, new: Any, *, using: str | None, utc_session: bool, target_version: int
) -> str | None:
    """Why changing ``old`` to ``new`` rewrites the table, or None when it provably does not.

    Binary-coercible changes PostgreSQL does in the catalog only: varchar(n) → varchar(m ≥ n),
    varchar → text, any varchar/text → unbounded varchar, numeric(p, s) → numeric(p' ≥ p, s),
    numeric(p, s) → numeric, and timestamp → timestamptz when the session time zone is UTC
    (PostgreSQL 12+).
    """
    if using:
        return f"USING {using} recomputes every row"
    old_sql, new_sql = _pg_type(old), _pg_type(new)
    if new_sql is None:
        return None
    if old_sql is None:
        return (
            "the current type is unknown (pass existing_type=) so the change cannot be shown "
            "to be catalog-only"
        )
    if old_sql == new_sql:
        return None
    if _is_string(old) and _is_string(new):
        old_len, new_len = old.length, new.length
        if new_len is None or (old_len is not None and new_len >= old_len):
            return None
        if old_len is None:
            return f"{old_sql} → {new_sql} must check every value's length"
        return f"narrowing {old_sql} → {new_sql} must check every value"
    if (
        isinstance(old, sa.Numeric)
        and isinstance(new, sa.Numeric)
        and not isinstance(old, sa.Float)
        and not isinstance(new, sa.Float)
    ):
        if new.precision is None and new.scale is None:
            return None
        if (
            old.precision is not None
            and new.precision is not None
            and new.precision >= old.precision
            and (old.scale or 0) == (new.scale or 0)
        ):
            return None
        return f"{old_sql} → {new_sql} changes the stored representation"
    if _is_timestamp(old) and _is_timestamp(new) and bool(old.timezone) != bool(new.timezone):
        if utc_session and target_version >= 12:
            return None
        return (
            f"{old_sql} → {new_sql} rewrites unless the session time zone is UTC "
            "(SET timezone = 'UTC' earlier in the revision, PostgreSQL 12+)"
        )
    return f"{old_sql} → {new_sql} is not binary-compatible"


@registry.register
class RewritingTypeChange(Rule):
    """Changing a column's type in a way that rewrites the table.

    ## What it does
    Flags `op.alter_column(..., type_=...)` / `ALTER COLUMN ... TYPE` on an existing table unless
    the change is one PostgreSQL does in the catalog only: `varchar(n)` → `varchar(m ≥ n)`,
    `varchar` → `text`, `numeric(p,s)` → `numeric(p' ≥ p, s)`, or `timestamp` → `timestamptz`
    with a UTC session time zone (12+). A `USING` clause other than a plain cast of the column
    (`USING col::newtype`) rewrites.

    ## Why is this bad?
    A rewrite copies the whole table and rebuilds every index while holding ACCESS EXCLUSIVE:
    the table is unavailable for minutes to hours. `int` → `bigint` is the classic outage.

    ## Example
    ```python
    op.alter_column("order_items", "quantity", existing_type=sa.Integer(),
                    type_=sa.BigInteger())
    ```

    ## Use instead
    A shadow column: add the new column, keep it in sync with a trigger, backfill in batches,
    move the code to the new column, and drop the old one in a later release.
    ```python
    op.add_column("order_items", sa.Column("quantity_new", sa.BigInteger(), nullable=True))
    # trigger copying quantity -> quantity_new on INSERT/UPDATE, batched backfill, code moves
    # to quantity_new; a later revision: op.drop_column("order_items", "quantity")
    ```

    ## Fix safety
    The rewriter generates the shadow-column sequence; it spans several deploys, so it is
    marked for review.
    """

    code = "AS105"
    name = "rewriting-type-change"
    risk = Risk.HIGH
    operations = (ops.AlterColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    fixable = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ALTER COLUMN a TYPE bigint",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AlterColumnOp)
        new = operation.modify_type
        if new is None:
            return
        using = operation.kw.get("postgresql_using")
        if plain_using(using, operation.column_name):
            using = None
        timezone = (context.facts.settings.get("timezone") or "").strip("'\" ").upper()
        existing = operation.existing_type
        if existing is None:  # raw SQL, or existing_type not given: what the history built
            existing = context.facts.column_types.get((str(record.table), operation.column_name))
        reason = rewrite_reason(
            existing,
            new,
            using=using,
            utc_session=timezone in ("UTC", "ETC/UTC", "GMT", "Z", "+00"),
            target_version=context.target_version,
        )
        if reason is None:
            return
        table = qualified(record.table, record.schema)
        column = operation.column_name
        sk = schema_kw(record)
        yield Violation(
            message=f'changing the type of "{table}.{column}" rewrites the table under an ACCESS '
            f"EXCLUSIVE lock: {reason}",
            help=(
                f"op.add_column({py(record.table)}, sa.Column({py(column + '_new')}, "
                f"{type_code(new)}, nullable=True){sk})\n"
                f"# keep {column}_new in sync with a trigger, backfill it in batches, move the "
                f"code to {column}_new,\n"
                f"# then drop {column} in a later release (see drop-column): no rename, so no "
                "release ever sees a missing column"
            ),
        )
