"""Helpers shared by rules: reading defaults and types, and writing help in the user's own names."""

from __future__ import annotations

import functools
import json
from typing import Any

import sqlalchemy as sa
from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

from alembic_safety.analysis.recorder import OpRecord, compile_sql
from alembic_safety.analysis.standins import is_stand_in

__all__ = [
    "column_code",
    "default_sql",
    "py",
    "qualified",
    "type_code",
    "volatile_functions",
]

#: Functions PostgreSQL marks STABLE or IMMUTABLE that appear in defaults: no rewrite on ADD COLUMN
#: (PostgreSQL 11+ evaluates them once and stores the value in the catalog).
_NON_VOLATILE = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_date",
        "localtimestamp",
        "lower",
        "upper",
        "concat",
        "timezone",
        "make_interval",
        "make_date",
        "to_jsonb",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "array_fill",
        "current_setting",
        "date_trunc",
        "abs",
        "length",
    }
)


def qualified(table: str | None, schema: str | None = None) -> str:
    if table is None:
        return "?"
    return f"{schema}.{table}" if schema else table


def default_sql(default: Any) -> str | None:
    """SQL text of a server default (``DefaultClause``, text, function) or None."""
    if default is None or default is False:
        return None
    if isinstance(default, sa.schema.FetchedValue) and not isinstance(
        default, sa.schema.DefaultClause
    ):
        return None  # Identity, Computed, FetchedValue: not an expression default
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    return compile_sql(arg)


class _FunctionNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_FuncCall(self, _ancestors: Any, node: ast.FuncCall) -> None:
        if node.funcname:
            self.names.append(str(node.funcname[-1].sval).lower())


@functools.lru_cache(maxsize=4096)
def _function_names(expression_sql: str) -> tuple[str, ...]:
    try:
        tree = parse_sql(f"SELECT {expression_sql}")
    except ParseError:
        return ()
    visitor = _FunctionNames()
    visitor(tree)
    return tuple(visitor.names)


def volatile_functions(expression_sql: str) -> list[str]:
    """Functions in a default expression that are (or may be) VOLATILE, e.g. ``random``.

    Unknown functions count as volatile: ``CREATE FUNCTION`` defaults to VOLATILE.
    """
    return [name for name in _function_names(expression_sql) if name not in _NON_VOLATILE]


def type_code(type_: Any) -> str:
    """Python source for a SQLAlchemy type, for help snippets (``sa.String(length=20)``)."""
    if type_ is None or is_stand_in(type_) or isinstance(type_, sa.types.NullType):
        return "<type>"
    text = repr(type_)
    module = type(type_).__module__
    if module.startswith("sqlalchemy.dialects.postgresql"):
        return f"postgresql.{text}"
    return f"sa.{text}"


def column_code(column: sa.Column[Any], *, nullable: bool | None = None) -> str:
    """``sa.Column("status", sa.String(length=20), nullable=True)`` for a help snippet."""
    parts = [py(column.name), type_code(column.type)]
    if nullable is not None:
        parts.append(f"nullable={nullable}")
    return f"sa.Column({', '.join(parts)})"


def schema_kw(record: OpRecord, keyword: str = "schema") -> str:
    """``, schema="shop"`` for a schema-qualified table (the op call's last argument), or ""."""
    return f", {keyword}={py(record.schema)}" if record.schema else ""


def py(value: Any) -> str:
    """A Python literal for a help snippet, double-quoted like code formatted with ruff/black."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(item) for item in value)
        return (
            f"[{inner}]"
            if isinstance(value, list)
            else f"({inner}{',' if len(value) == 1 else ''})"
        )
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return py(str(value))
