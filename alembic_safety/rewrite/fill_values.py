"""What the existing rows of an added column get, when the models say it unambiguously.

A NOT NULL column added to an existing table is added nullable and filled in keyset batches
before NOT NULL is enforced. The value is known in two cases only:

- the model has a scalar Python-side default (``Column(..., default="new")``): the application
  writes it on every insert, so existing rows get the same constant;
- the model has a *volatile* ``server_default`` (``gen_random_uuid()``, ``clock_timestamp()``):
  PostgreSQL would rewrite the whole table to compute it per row, so the default is set after
  the ADD (new rows get it from the database) and existing rows are filled with the expression.

A callable or SQL-expression Python default, or no default at all, leaves the value unknown: a
guess would be written silently into production data, so the rewriter writes a TODO instead.
A non-volatile ``server_default`` needs nothing: PostgreSQL 11+ adds such a column instantly.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Column, literal
from sqlalchemy.engine.interfaces import Dialect

from alembic_safety.rules.common import default_sql, volatile_functions

__all__ = ["scalar_default_sql", "text_safe", "volatile_default_sql"]

#: A ``:name`` that ``sa.text()`` would take for a bind parameter (SQLAlchemy's own pattern).
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")


def text_safe(sql: str) -> str:
    """``sql`` with colons escaped, so that ``sa.text()`` keeps ``'10:30'`` a literal."""
    return _BIND.sub(r"\\:\1", sql)


def scalar_default_sql(dialect: Dialect, column: Column[Any]) -> str | None:
    """The column's constant Python-side default as a SQL literal of its type; else None."""
    default = column.default
    if default is None or not getattr(default, "is_scalar", False):
        return None  # none, a callable, a SQL expression or a sequence: unknown here
    value = getattr(default, "arg", None)
    if value is None:
        return None
    try:
        rendered = literal(value, type_=column.type).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}
        )
    except Exception:  # a type with no literal form (e.g. some JSON/ARRAY values): a TODO
        return None
    return text_safe(str(rendered))


def volatile_default_sql(column: Column[Any]) -> str | None:
    """The column's ``server_default`` SQL when it is volatile (it would rewrite the table)."""
    default = default_sql(column.server_default)
    if default is None or not volatile_functions(default):
        return None
    return text_safe(default)
