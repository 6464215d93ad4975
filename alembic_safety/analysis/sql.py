"""Raw SQL through PostgreSQL's own parser (pglast), translated into operation objects.

Regex linters miss ``RENAME x TO y`` and choke on dollar quoting; pglast is the real PostgreSQL
grammar. Each statement becomes a :class:`SqlStatement` (what it is, which table, which clauses)
plus the operation objects it amounts to, so that rules written against Alembic op classes also
catch the same danger written as SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream
from pglast.visitors import Visitor
from sqlalchemy.dialects import postgresql

from alembic_safety.analysis.ops import (
    AddConstraintUsingIndexOp,
    AddEnumValueOp,
    AddExclusionConstraintOp,
    CreateViewOp,
    DeleteRowsOp,
    InsertRowsOp,
    LockTableOp,
    MaintenanceOp,
    PartitionOp,
    SetConfigOp,
    TableStorageOp,
    TransactionControlOp,
    TriggerOp,
    TruncateOp,
    UpdateRowsOp,
    ValidateConstraintOp,
)

__all__ = ["ParsedSql", "SqlStatement", "parse"]


@dataclass(frozen=True)
class SqlStatement:
    """One parsed statement: enough for rules and reports without walking pglast nodes."""

    text: str
    kind: str
    table: str | None = None
    schema: str | None = None
    concurrently: bool = False
    not_valid: bool = False
    has_where: bool | None = None
    operations: tuple[ops.MigrateOperation, ...] = ()


@dataclass(frozen=True)
class ParsedSql:
    """The statements of one SQL text, or the parser's error when PostgreSQL would reject it."""

    text: str
    statements: tuple[SqlStatement, ...] = ()
    error: str | None = None
    operations: tuple[ops.MigrateOperation, ...] = field(default=())


_PYFORMAT_PARAM = re.compile(r"%\((\w+)\)s|%s|(?<![:\w]):(\w+)\b")


def _neutralise_params(sql: str) -> str:
    """Replace driver placeholders (``%(x)s``, ``%s``, ``:x``) by ``$n`` so PostgreSQL's grammar
    accepts them; ``::type`` casts are left alone."""
    counter = iter(range(1, 1_000_000))
    return _PYFORMAT_PARAM.sub(lambda _m: f"${next(counter)}", sql)


@lru_cache(maxsize=4096)
def parse(sql: str) -> ParsedSql:
    """Parse SQL text; never raises. Cached: histories repeat the same statements a lot."""
    text = sql.strip()
    if not text:
        return ParsedSql(text=sql)
    try:
        raw = parse_sql(text)
    except ParseError as first_error:
        try:
            raw = parse_sql(_neutralise_params(text))
        except ParseError:
            return ParsedSql(text=sql, error=str(first_error))
        except Exception as exc:  # e.g. text the parser cannot even encode
            return ParsedSql(text=sql, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        return ParsedSql(text=sql, error=f"{type(exc).__name__}: {exc}")
    statements = tuple(_statement(text, item) for item in raw)
    operations = tuple(op for statement in statements for op in statement.operations)
    return ParsedSql(text=sql, statements=statements, operations=operations)


def _statement(text: str, raw: ast.RawStmt) -> SqlStatement:
    node = raw.stmt
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(text)
    statement_text = text[start:end].strip()
    translate = _TRANSLATORS.get(type(node))
    info = translate(node) if translate else _Info()
    info.operations[:0] = _cte_operations(node)
    return SqlStatement(
        text=statement_text,
        kind=type(node).__name__,
        table=info.table,
        schema=info.schema,
        concurrently=info.concurrently,
        not_valid=info.not_valid,
        has_where=info.has_where,
        operations=tuple(info.operations),
    )


def _cte_operations(node: Any) -> list[ops.MigrateOperation]:
    """Data-modifying CTEs (``WITH gone AS (DELETE FROM t ...) SELECT ...``) act like statements."""
    made: list[ops.MigrateOperation] = []
    with_clause = getattr(node, "withClause", None)
    for cte in getattr(with_clause, "ctes", None) or ():
        query = getattr(cte, "ctequery", None)
        translate = _TRANSLATORS.get(type(query))
        if translate is not None and not isinstance(query, ast.SelectStmt):
            made.extend(translate(query).operations)
    return made


@dataclass
class _Info:
    table: str | None = None
    schema: str | None = None
    concurrently: bool = False
    not_valid: bool = False
    has_where: bool | None = None
    operations: list[ops.MigrateOperation] = field(default_factory=list)


def deparse(node: Any) -> str:
    """SQL text of a pglast node (defaults, CHECK expressions, USING clauses)."""
    return str(RawStream()(node))


def _relation(rangevar: ast.RangeVar | None) -> tuple[str | None, str | None]:
    if rangevar is None:
        return None, None
    return rangevar.relname, rangevar.schemaname


# -- types --------------------------------------------------------------------------------------

_SIMPLE_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "int2": sa.SmallInteger,
    "smallint": sa.SmallInteger,
    "int4": sa.Integer,
    "int": sa.Integer,
    "integer": sa.Integer,
    "int8": sa.BigInteger,
    "bigint": sa.BigInteger,
    "smallserial": sa.SmallInteger,
    "serial": sa.Integer,
    "serial4": sa.Integer,
    "bigserial": sa.BigInteger,
    "serial8": sa.BigInteger,
    "text": sa.Text,
    "bool": sa.Boolean,
    "boolean": sa.Boolean,
    "float4": postgresql.REAL,
    "real": postgresql.REAL,
    "float8": postgresql.DOUBLE_PRECISION,
    "date": sa.Date,
    "uuid": postgresql.UUID,
    "json": postgresql.JSON,
    "jsonb": postgresql.JSONB,
    "bytea": postgresql.BYTEA,
    "interval": postgresql.INTERVAL,
    "inet": postgresql.INET,
    "cidr": postgresql.CIDR,
    "money": postgresql.MONEY,
}

_SERIAL_TYPES = {"smallserial", "serial", "serial4", "bigserial", "serial8"}


def _typmods(type_name: ast.TypeName) -> list[int]:
    values: list[int] = []
    for mod in type_name.typmods or ():
        if isinstance(mod, ast.A_Const) and isinstance(mod.val, ast.Integer):
            values.append(int(mod.val.ival or 0))
    return values


def type_from_sql(type_name: ast.TypeName) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type a PostgreSQL type name denotes (NullType when unknown)."""
    name = _last_name(type_name.names)
    mods = _typmods(type_name)
    result: sa.types.TypeEngine[Any]
    if name in ("varchar", "character varying"):
        result = sa.String(mods[0]) if mods else sa.String()
    elif name in ("bpchar", "char", "character"):
        result = sa.CHAR(mods[0] if mods else 1)
    elif name in ("numeric", "decimal"):
        precision = mods[0] if mods else None
        scale = mods[1] if len(mods) > 1 else None
        result = sa.Numeric(precision, scale)
    elif name in ("timestamp", "timestamptz"):
        result = postgresql.TIMESTAMP(timezone=name == "timestamptz")
    elif name in ("time", "timetz"):
        result = postgresql.TIME(timezone=name == "timetz")
    elif name in _SIMPLE_TYPES:
        result = _SIMPLE_TYPES[name]()
    else:
        known = postgresql.base.ischema_names.get(name)
        result = known() if known is not None else sa.types.NullType()
    if type_name.arrayBounds:
        result = postgresql.ARRAY(result)
    return result


def _last_name(names: Any) -> str:
    """The unqualified, lower-cased last part of a dotted pglast name (``pg_catalog.int4``)."""
    return str(names[-1].sval).lower() if names else ""


def _is_serial(type_name: ast.TypeName) -> bool:
    return _last_name(type_name.names) in _SERIAL_TYPES


# -- translators -----------------------------------------------------------------------------------


def _column_from_def(table: str, column_def: ast.ColumnDef) -> sa.Column[Any]:
    nullable = True
    server_default: Any = None
    extras: list[Any] = []
    extras_kw: dict[str, Any] = {}
    for constraint in column_def.constraints or ():
        kind = constraint.contype
        if kind == enums.ConstrType.CONSTR_NOTNULL:
            nullable = False
        elif kind == enums.ConstrType.CONSTR_DEFAULT and constraint.raw_expr is not None:
            server_default = sa.text(deparse(constraint.raw_expr))
        elif kind == enums.ConstrType.CONSTR_IDENTITY:
            extras.append(sa.Identity(always=constraint.generated_when == "a"))
            nullable = False
        elif kind == enums.ConstrType.CONSTR_GENERATED and constraint.raw_expr is not None:
            extras.append(sa.Computed(sa.text(deparse(constraint.raw_expr)), persisted=True))
        elif kind == enums.ConstrType.CONSTR_PRIMARY:
            nullable = False
        elif kind == enums.ConstrType.CONSTR_UNIQUE:
            extras_kw["unique"] = True
    if column_def.typeName is not None and _is_serial(column_def.typeName):
        server_default = sa.text(f"nextval('{table}_{column_def.colname}_seq'::regclass)")
        nullable = False
    type_ = (
        type_from_sql(column_def.typeName)
        if column_def.typeName is not None
        else sa.types.NullType()
    )
    return sa.Column(
        column_def.colname,
        type_,
        *extras,
        nullable=nullable,
        server_default=server_default,
        # SQL says exactly what it adds: no implicit SERIAL (Identity sets its own).
        autoincrement="auto" if any(isinstance(e, sa.Identity) for e in extras) else False,
        **extras_kw,
    )


def _names(values: Any) -> list[str]:
    return [value.sval for value in values or ()]


def _constraint_op(
    table: str, schema: str | None, constraint: ast.Constraint
) -> ops.MigrateOperation | None:
    kind = constraint.contype
    name = constraint.conname
    if constraint.indexname:
        return AddConstraintUsingIndexOp(
            table,
            name,
            constraint.indexname,
            kind="primary key" if kind == enums.ConstrType.CONSTR_PRIMARY else "unique",
            schema=schema,
        )
    if kind == enums.ConstrType.CONSTR_FOREIGN:
        referent, referent_schema = _relation(constraint.pktable)
        return ops.CreateForeignKeyOp(
            name,
            table,
            referent or "",
            _names(constraint.fk_attrs),
            _names(constraint.pk_attrs),
            source_schema=schema,
            referent_schema=referent_schema,
            postgresql_not_valid=bool(constraint.skip_validation),
        )
    if kind == enums.ConstrType.CONSTR_CHECK:
        condition = deparse(constraint.raw_expr) if constraint.raw_expr is not None else "true"
        return ops.CreateCheckConstraintOp(
            name,
            table,
            sa.text(condition),
            schema=schema,
            postgresql_not_valid=bool(constraint.skip_validation),
        )
    if kind == enums.ConstrType.CONSTR_UNIQUE:
        return ops.CreateUniqueConstraintOp(name, table, _names(constraint.keys), schema=schema)
    if kind == enums.ConstrType.CONSTR_PRIMARY:
        return ops.CreatePrimaryKeyOp(name, table, _names(constraint.keys), schema=schema)
    if kind == enums.ConstrType.CONSTR_EXCLUSION:
        return AddExclusionConstraintOp(table, name, schema=schema)
    return None


def _alter_table(node: ast.AlterTableStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema)
    if table is None or node.objtype != enums.ObjectType.OBJECT_TABLE:
        return info
    subtype = enums.AlterTableType
    for cmd in node.cmds or ():
        kind = cmd.subtype
        made: ops.MigrateOperation | None = None
        if kind == subtype.AT_AddColumn:
            made = ops.AddColumnOp(table, _column_from_def(table, cmd.def_), schema=schema)
        elif kind == subtype.AT_AlterColumnType:
            column_def = cmd.def_
            using = deparse(column_def.raw_default) if column_def.raw_default else None
            made = ops.AlterColumnOp(
                table, str(cmd.name), schema=schema, modify_type=type_from_sql(column_def.typeName)
            )
            if using:
                made.kw["postgresql_using"] = using
        elif kind == subtype.AT_SetNotNull:
            made = ops.AlterColumnOp(table, cmd.name, schema=schema, modify_nullable=False)
        elif kind == subtype.AT_DropNotNull:
            made = ops.AlterColumnOp(table, cmd.name, schema=schema, modify_nullable=True)
        elif kind == subtype.AT_ColumnDefault:
            default = sa.text(deparse(cmd.def_)) if cmd.def_ is not None else None
            made = ops.AlterColumnOp(table, cmd.name, schema=schema, modify_server_default=default)
        elif kind == subtype.AT_AddConstraint:
            info.not_valid = info.not_valid or bool(cmd.def_.skip_validation)
            made = _constraint_op(table, schema, cmd.def_)
        elif kind == subtype.AT_ValidateConstraint:
            made = ValidateConstraintOp(table, cmd.name, schema=schema)
        elif kind == subtype.AT_DropColumn:
            made = ops.DropColumnOp(table, cmd.name, schema=schema)
            made.kw["postgresql_cascade"] = cmd.behavior == enums.DropBehavior.DROP_CASCADE
        elif kind == subtype.AT_DropConstraint:
            made = ops.DropConstraintOp(cmd.name, table, schema=schema)
        elif kind == subtype.AT_SetTableSpace:
            made = TableStorageOp(table, f"SET TABLESPACE {cmd.name}", schema=schema)
        elif kind == subtype.AT_SetLogged:
            made = TableStorageOp(table, "SET LOGGED", schema=schema)
        elif kind == subtype.AT_SetUnLogged:
            made = TableStorageOp(table, "SET UNLOGGED", schema=schema)
        elif kind in (subtype.AT_AttachPartition, subtype.AT_DetachPartition):
            made = _partition_op(table, schema, cmd)
        elif kind == subtype.AT_AddIdentity:
            made = ops.AlterColumnOp(table, str(cmd.name), schema=schema)
            made.kw["postgresql_add_identity"] = True
        if made is not None:
            info.operations.append(made)
    return info


def _partition_op(table: str, schema: str | None, cmd: ast.AlterTableCmd) -> PartitionOp:
    partition_cmd = cmd.def_
    assert isinstance(partition_cmd, ast.PartitionCmd)
    child, child_schema = _relation(partition_cmd.name)
    bound = getattr(partition_cmd, "bound", None)
    return PartitionOp(
        table,
        child or "?",
        action="attach" if cmd.subtype == enums.AlterTableType.AT_AttachPartition else "detach",
        schema=schema,
        concurrently=bool(getattr(partition_cmd, "concurrent", False)),
        is_default=bool(bound is not None and bound.is_default),
        partition_schema=child_schema,
    )


def _rename(node: ast.RenameStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema)
    if table is None:
        return info
    if node.renameType == enums.ObjectType.OBJECT_COLUMN:
        info.operations.append(
            ops.AlterColumnOp(table, str(node.subname), schema=schema, modify_name=node.newname)
        )
    elif node.renameType == enums.ObjectType.OBJECT_TABLE:
        info.operations.append(ops.RenameTableOp(table, str(node.newname), schema=schema))
    return info


def _index_columns(node: ast.IndexStmt) -> list[Any]:
    columns: list[Any] = []
    for element in node.indexParams or ():
        columns.append(element.name if element.name else sa.text(deparse(element.expr)))
    return columns


def _create_index(node: ast.IndexStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema, concurrently=bool(node.concurrent))
    if table is not None:
        info.operations.append(
            ops.CreateIndexOp(
                node.idxname,
                table,
                _index_columns(node),
                schema=schema,
                unique=bool(node.unique),
                if_not_exists=bool(node.if_not_exists),
                postgresql_concurrently=bool(node.concurrent),
            )
        )
    return info


def _drop(node: ast.DropStmt) -> _Info:
    info = _Info(concurrently=bool(node.concurrent))
    for obj in node.objects or ():
        parts = [part.sval for part in obj] if isinstance(obj, tuple) else []
        if not parts:
            continue
        name, schema = parts[-1], (parts[-2] if len(parts) > 1 else None)
        if node.removeType == enums.ObjectType.OBJECT_INDEX:
            info.operations.append(
                ops.DropIndexOp(
                    name,
                    schema=schema,
                    if_exists=bool(node.missing_ok),
                    postgresql_concurrently=bool(node.concurrent),
                )
            )
        elif node.removeType == enums.ObjectType.OBJECT_TABLE:
            info.table, info.schema = info.table or name, info.schema or schema
            info.operations.append(ops.DropTableOp(name, schema=schema))
        elif node.removeType == enums.ObjectType.OBJECT_TRIGGER and len(parts) >= 2:
            table, table_schema = parts[-2], (parts[-3] if len(parts) > 2 else None)
            info.table, info.schema = table, table_schema
            info.operations.append(TriggerOp(table, name, action="drop", schema=table_schema))
    return info


def _create_table(node: ast.CreateStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema)
    if table is not None:
        columns = [
            _column_from_def(table, element)
            for element in node.tableElts or ()
            if isinstance(element, ast.ColumnDef) and element.colname
        ]
        created = ops.CreateTableOp(table, columns, schema=schema)
        if node.partbound is not None and node.inhRelations:
            # PARTITION OF parent: dropping the parent drops it too.
            created.info["partition_of"] = _relation(node.inhRelations[0])[0]
        info.operations.append(created)
    return info


def _create_trigger(node: ast.CreateTrigStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema)
    if table is not None and node.trigname:
        info.operations.append(TriggerOp(table, node.trigname, action="create", schema=schema))
    return info


def _alter_enum(node: ast.AlterEnumStmt) -> _Info:
    info = _Info()
    if node.newVal and node.typeName:
        type_name = ".".join(str(part.sval) for part in node.typeName)
        info.operations.append(
            AddEnumValueOp(type_name, node.newVal, if_not_exists=bool(node.skipIfNewValExists))
        )
    return info


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def visit_A_Const(self, _ancestors: Any, node: ast.A_Const) -> None:
        if isinstance(node.val, ast.String) and node.val.sval is not None:
            self.values.append(str(node.val.sval))


def string_literals(node: Any) -> tuple[str, ...]:
    """String constants a statement writes or compares (e.g. enum labels it uses)."""
    visitor = _StringLiterals()
    visitor(node)
    return tuple(visitor.values)


def _insert(node: ast.InsertStmt) -> _Info:
    table, schema = _relation(node.relation)
    info = _Info(table=table, schema=schema)
    if table is not None:
        info.operations.append(InsertRowsOp(table, schema=schema, literals=string_literals(node)))
    return info


class _Relations(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str | None, str]] = []

    def visit_RangeVar(self, _ancestors: Any, node: ast.RangeVar) -> None:
        self.found.append((node.schemaname, str(node.relname)))


_CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


def reads_only_catalog(sql: str) -> bool:
    """True for SELECTs that read only the system catalogs (``pg_index``, ``information_schema``).

    Such a query looks at the schema, not at the application's data: code that checks whether
    an index is valid before rebuilding it transforms nothing.
    """
    try:
        raw = parse_sql(sql.strip())
    except Exception:
        try:
            raw = parse_sql(_neutralise_params(sql.strip()))
        except Exception:
            return False
    if not raw or not all(isinstance(item.stmt, ast.SelectStmt) for item in raw):
        return False
    visitor = _Relations()
    for item in raw:
        if item.stmt is not None:
            visitor(item.stmt)
    return bool(visitor.found) and all(  # no relation at all (SELECT f()) may still do anything
        schema in _CATALOG_SCHEMAS or (schema is None and name.startswith("pg_"))
        for schema, name in visitor.found
    )


class _BatchMarkers(Visitor):
    """Finds what bounds a statement to one batch: ``LIMIT`` or a bound parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_SelectStmt(self, _ancestors: Any, node: ast.SelectStmt) -> None:
        if node.limitCount is not None:
            self.found = True

    def visit_ParamRef(self, _ancestors: Any, _node: ast.ParamRef) -> None:
        self.found = True


def is_batched(where: Any) -> bool:
    """True when a WHERE clause bounds one batch (keyset or ``LIMIT``), not the whole table."""
    if where is None:
        return False
    visitor = _BatchMarkers()
    visitor(where)
    return visitor.found


def _create_view(node: ast.ViewStmt) -> _Info:
    view, schema = _relation(node.view)
    info = _Info()
    if view is not None:
        info.operations.append(CreateViewOp(view, schema=schema))
    return info


def _update(node: ast.UpdateStmt) -> _Info:
    table, schema = _relation(node.relation)
    has_where = node.whereClause is not None
    info = _Info(table=table, schema=schema, has_where=has_where)
    if table is not None:
        info.operations.append(
            UpdateRowsOp(
                table,
                schema=schema,
                has_where=has_where,
                batched=any(
                    is_batched(part)
                    for part in (node.whereClause, node.fromClause, node.withClause)
                ),
                literals=string_literals(node),
            )
        )
    return info


def _delete(node: ast.DeleteStmt) -> _Info:
    table, schema = _relation(node.relation)
    has_where = node.whereClause is not None
    info = _Info(table=table, schema=schema, has_where=has_where)
    if table is not None:
        info.operations.append(
            DeleteRowsOp(
                table, schema=schema, has_where=has_where, batched=is_batched(node.whereClause)
            )
        )
    return info


def _truncate(node: ast.TruncateStmt) -> _Info:
    info = _Info()
    cascade = node.behavior == enums.DropBehavior.DROP_CASCADE
    for rangevar in node.relations or ():
        table, schema = _relation(rangevar)
        if table is not None:
            info.table, info.schema = info.table or table, info.schema or schema
            info.operations.append(TruncateOp(table, schema=schema, cascade=cascade))
    return info


def _set(node: ast.VariableSetStmt) -> _Info:
    value = None
    if node.args:
        value = ", ".join(deparse(arg).strip("'") for arg in node.args)
    info = _Info()
    if node.name:
        info.operations.append(SetConfigOp(node.name, value, local=bool(node.is_local)))
    return info


_TRANSACTION_KINDS = {
    enums.TransactionStmtKind.TRANS_STMT_BEGIN: "begin",
    enums.TransactionStmtKind.TRANS_STMT_START: "begin",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "commit",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "rollback",
}


def _transaction(node: ast.TransactionStmt) -> _Info:
    info = _Info()
    kind = _TRANSACTION_KINDS.get(node.kind) if node.kind is not None else None
    if kind:
        info.operations.append(TransactionControlOp(kind))
    return info


_LOCK_MODES = {
    1: "ACCESS SHARE",
    2: "ROW SHARE",
    3: "ROW EXCLUSIVE",
    4: "SHARE UPDATE EXCLUSIVE",
    5: "SHARE",
    6: "SHARE ROW EXCLUSIVE",
    7: "EXCLUSIVE",
    8: "ACCESS EXCLUSIVE",
}


def _lock(node: ast.LockStmt) -> _Info:
    info = _Info()
    mode = _LOCK_MODES.get(node.mode or 8, "ACCESS EXCLUSIVE")
    for rangevar in node.relations or ():
        table, schema = _relation(rangevar)
        if table is not None:
            info.table, info.schema = info.table or table, info.schema or schema
            info.operations.append(LockTableOp(table, schema=schema, mode=mode))
    return info


_FALSE = frozenset({"false", "off", "0", "no"})


def _option_names(options: Any) -> set[str]:
    """Options that are switched on: ``(FULL)`` and ``(FULL true)``, not ``(FULL false)``."""
    enabled: set[str] = set()
    for option in options or ():
        if not isinstance(option, ast.DefElem):
            continue
        value = option.arg
        text = str(getattr(value, "sval", getattr(value, "ival", "true"))).lower()
        if isinstance(value, ast.Boolean):
            text = "true" if value.boolval else "false"
        if text not in _FALSE:
            enabled.add(str(option.defname).lower())
    return enabled


def _vacuum(node: ast.VacuumStmt) -> _Info:
    info = _Info()
    command = "VACUUM" if node.is_vacuumcmd else "ANALYZE"
    full = "full" in _option_names(node.options)
    relations = [rel.relation for rel in node.rels or ()] or [None]
    for rangevar in relations:
        table, schema = _relation(rangevar)
        info.operations.append(MaintenanceOp(command, table, schema=schema, full=full))
    return info


def _cluster(node: ast.ClusterStmt) -> _Info:
    table, schema = _relation(node.relation)
    return _Info(
        table=table, schema=schema, operations=[MaintenanceOp("CLUSTER", table, schema=schema)]
    )


_REINDEX_TARGETS = {
    enums.ReindexObjectType.REINDEX_OBJECT_INDEX: "INDEX",
    enums.ReindexObjectType.REINDEX_OBJECT_TABLE: "TABLE",
    enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA: "SCHEMA",
    enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM: "SYSTEM",
    enums.ReindexObjectType.REINDEX_OBJECT_DATABASE: "DATABASE",
}


def _reindex(node: ast.ReindexStmt) -> _Info:
    name, schema = _relation(node.relation)
    target = _REINDEX_TARGETS.get(node.kind, "TABLE") if node.kind is not None else "TABLE"
    concurrently = "concurrently" in _option_names(node.params)
    if name is None and node.name:
        name = str(node.name)  # REINDEX SCHEMA/DATABASE name
    table = name if target == "TABLE" else None
    return _Info(
        table=table,
        schema=schema,
        concurrently=concurrently,
        operations=[
            MaintenanceOp(
                "REINDEX",
                table,
                schema=schema,
                concurrently=concurrently,
                target=target,
                object_name=None if target == "TABLE" else name,
            )
        ],
    )


_TRANSLATORS: dict[type[Any], Callable[[Any], _Info]] = {
    ast.AlterTableStmt: _alter_table,
    ast.RenameStmt: _rename,
    ast.IndexStmt: _create_index,
    ast.DropStmt: _drop,
    ast.CreateStmt: _create_table,
    ast.UpdateStmt: _update,
    ast.DeleteStmt: _delete,
    ast.TruncateStmt: _truncate,
    ast.VariableSetStmt: _set,
    ast.TransactionStmt: _transaction,
    ast.LockStmt: _lock,
    ast.VacuumStmt: _vacuum,
    ast.ClusterStmt: _cluster,
    ast.ReindexStmt: _reindex,
    ast.CreateTrigStmt: _create_trigger,
    ast.AlterEnumStmt: _alter_enum,
    ast.InsertStmt: _insert,
    ast.ViewStmt: _create_view,
}


def iter_operations(sql: str) -> Iterator[ops.MigrateOperation]:
    """Operation objects the SQL text amounts to, in order (nothing when it does not parse)."""
    yield from parse(sql).operations
