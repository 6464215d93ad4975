"""AS204 narrowing-type."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw
from alembic_safety.rules.rewriting_type_change import _is_string, _pg_type

#: Value ranges of PostgreSQL's integer types, by byte width.
_INTEGER_RANGES = {2: (-32768, 32767), 4: (-2147483648, 2147483647)}


@dataclass(frozen=True)
class Narrowing:
    """Why ``old`` → ``new`` can lose values, and a CHECK condition (for ``{col}``) that holds
    exactly when a value fits the new type (None: no simple one)."""

    reason: str
    fits: str | None


def _unwrap(type_: Any) -> Any:
    """The underlying type of a ``TypeDecorator`` (e.g. a ``Money`` type over ``Numeric``)."""
    while isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    return type_


def _integer_width(type_: Any) -> int | None:
    if not isinstance(type_, sa.Integer):
        return None
    if isinstance(type_, sa.SmallInteger):
        return 2
    if isinstance(type_, sa.BigInteger):
        return 8
    return 4


def _is_exact_numeric(type_: Any) -> bool:
    return isinstance(type_, sa.Numeric) and not isinstance(type_, (sa.Float, sa.Integer))


def _string_narrowing(old: Any, new: Any, old_sql: str, new_sql: str) -> Narrowing | None:
    new_len = new.length
    if new_len is None or (old.length is not None and new_len >= old.length):
        return None
    return Narrowing(
        f"{old_sql} → {new_sql}: values longer than {new_len} characters do not fit",
        f"char_length({{col}}) <= {new_len}",
    )


def _integer_narrowing(old: Any, new: Any, old_sql: str, new_sql: str) -> Narrowing | None:
    old_width, new_width = _integer_width(old), _integer_width(new)
    if old_width is None or new_width is None or new_width >= old_width:
        return None
    low, high = _INTEGER_RANGES[new_width]
    return Narrowing(
        f"{old_sql} → {new_sql}: values outside {low}..{high} do not fit",
        f"{{col}} BETWEEN {low} AND {high}",
    )


def _numeric_narrowing(old: Any, new: Any, old_sql: str, new_sql: str) -> Narrowing | None:
    if new.precision is None:  # unbounded numeric holds every value
        return None
    new_scale = new.scale or 0
    new_int_digits = new.precision - new_scale
    fits = f"abs(round({{col}}, {new_scale})) < 1e{new_int_digits}"
    if old.precision is None:
        return Narrowing(
            f"{old_sql} → {new_sql}: values with more than {new_int_digits} integer digits do "
            f"not fit, and digits beyond {new_scale} decimal places are rounded away",
            fits,
        )
    old_scale = old.scale or 0
    if new_int_digits < old.precision - old_scale:
        return Narrowing(
            f"{old_sql} → {new_sql}: values with more than {new_int_digits} integer digits do "
            "not fit",
            fits,
        )
    if new_scale < old_scale:
        return Narrowing(
            f"{old_sql} → {new_sql}: digits beyond {new_scale} decimal places are rounded away",
            f"{{col}} = round({{col}}, {new_scale})",
        )
    return None


def narrowing(old: Any, new: Any) -> Narrowing | None:
    """How changing ``old`` to ``new`` may lose values, or None (also when ``old`` is unknown)."""
    old_sql, new_sql = _pg_type(old), _pg_type(new)
    if old_sql is None or new_sql is None or old_sql == new_sql:
        return None
    old, new = _unwrap(old), _unwrap(new)
    if _is_string(old) and _is_string(new):
        return _string_narrowing(old, new, old_sql, new_sql)
    if isinstance(old, sa.CHAR) and isinstance(new, sa.CHAR):
        return _string_narrowing(old, new, old_sql, new_sql)
    if _integer_width(old) is not None:
        return _integer_narrowing(old, new, old_sql, new_sql)
    if _is_exact_numeric(old) and _integer_width(new) is not None:
        width = _integer_width(new)
        assert width is not None
        low, high = _INTEGER_RANGES.get(width, (None, None))
        rng = f"{{col}} BETWEEN {low} AND {high} AND " if low is not None else ""
        return Narrowing(
            f"{old_sql} → {new_sql}: fractions are rounded away",
            f"{rng}{{col}} = round({{col}})",
        )
    if _is_exact_numeric(old) and _is_exact_numeric(new):
        return _numeric_narrowing(old, new, old_sql, new_sql)
    if old_sql == "double precision" and new_sql in ("real", "float(24)"):
        return Narrowing(f"{old_sql} → {new_sql}: values lose precision or overflow", None)
    return None


@registry.register
class NarrowingType(Rule):
    """Changing a column to a narrower type that existing or new values may not fit.

    ## What it does
    Flags `op.alter_column(..., existing_type=..., type_=...)` on an existing table when the new
    type holds fewer values: a shorter `varchar(n)` (also `text` → `varchar(n)`), a smaller
    integer (`bigint` → `integer`), a `numeric` with fewer integer digits or decimal places, or
    an integer in place of a `numeric`. It needs `existing_type=` (SQL `ALTER COLUMN ... TYPE`
    does not say what the type was) and is reported in addition to AS105, which covers the
    rewrite and its lock.

    ## Why is this bad?
    PostgreSQL converts every existing row: one value that does not fit makes the migration
    fail (`value too long for type character varying(20)`, `integer out of range`, `numeric
    field overflow`) after holding an ACCESS EXCLUSIVE lock for the whole scan, and decimal
    places beyond the new scale are silently rounded away. Once it succeeds, the release still
    running may write values that no longer fit, and its inserts and updates fail.

    ## Example
    ```python
    op.alter_column("products", "sku", existing_type=sa.String(64), type_=sa.String(20))
    ```

    ## Use instead
    Keep the wide type and enforce the limit with a CHECK constraint added `NOT VALID` (no scan,
    a brief lock) and validated in a later revision — after releasing code that only writes
    values that fit and fixing the rows that do not:
    ```python
    op.create_check_constraint("ck_products_sku_length", "products", "char_length(sku) <= 20",
                               postgresql_not_valid=True)
    ```

    ## Fix safety
    No automatic fix: what to do with values that do not fit is a human decision.
    """

    code = "AS204"
    name = "narrowing-type"
    risk = Risk.MEDIUM
    operations = (ops.AlterColumnOp,)

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AlterColumnOp)
        if operation.modify_type is None:
            return
        found = narrowing(operation.existing_type, operation.modify_type)
        if found is None:
            return
        table = qualified(record.table, record.schema)
        column = operation.column_name
        if found.fits is not None:
            condition = found.fits.format(col=column)
            check = f"ck_{record.table}_{column}_fits"
            enforce = (
                "# 3. enforce the limit without a rewrite: a CHECK added NOT VALID, validated in "
                "a later revision\n"
                f"op.create_check_constraint({py(check)}, {py(record.table)}, {py(condition)}, "
                f"postgresql_not_valid=True{schema_kw(record)})"
            )
            find = f"SELECT id FROM {table} WHERE NOT ({condition})"
        else:
            enforce = "# 3. keep the wider type, or change it with a shadow column (see AS105)"
            find = f"SELECT id FROM {table} WHERE ... (values the new type cannot hold)"
        yield Violation(
            message=f'narrowing "{table}.{column}" ({found.reason}): the migration fails on '
            "an existing value that does not fit, and running code may write values that no "
            "longer fit",
            help=(
                f"# 1. release code that only writes values that fit into {table}.{column}\n"
                f"# 2. fix the rows that do not fit, in batches: {find}\n{enforce}"
            ),
        )
