"""Operations Alembic has no op class for, so raw SQL and bind access can be analysed like ops.

Rules dispatch on operation classes (the Alembic convention). Raw SQL in ``op.execute`` is
translated into Alembic's own op classes where one exists (``CREATE INDEX`` becomes a
``CreateIndexOp``) and into these plain data classes otherwise, so that one rule covers a danger
whether it was written with ``op.*`` or with SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.operations.ops import MigrateOperation


class AnalysisOp(MigrateOperation):
    """Base of the analysis-only operations: plain data, never executed by the recorder."""

    #: The name shown as a finding's ``operation`` when no Alembic op method fits.
    operation_name = "execute"
    table_name: str | None = None
    schema: str | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "info")
        return f"{type(self).__name__}({fields})"


class UpdateRowsOp(AnalysisOp):
    """``UPDATE table SET ...`` — ``has_where``: limited to some rows; ``batched``: the WHERE
    bounds one batch (a ``LIMIT`` subquery or a bound parameter, as keyset loops use)."""

    def __init__(
        self,
        table_name: str,
        *,
        schema: str | None = None,
        has_where: bool,
        batched: bool = False,
        literals: tuple[str, ...] = (),
    ) -> None:
        self.table_name = table_name
        self.schema = schema
        self.has_where = has_where
        self.batched = batched
        self.literals = literals


class DeleteRowsOp(AnalysisOp):
    """``DELETE FROM table ...`` — ``has_where`` and ``batched`` as for :class:`UpdateRowsOp`."""

    def __init__(
        self,
        table_name: str,
        *,
        schema: str | None = None,
        has_where: bool,
        batched: bool = False,
    ) -> None:
        self.table_name = table_name
        self.schema = schema
        self.has_where = has_where
        self.batched = batched


class TruncateOp(AnalysisOp):
    """``TRUNCATE table``: every row gone at once, under ACCESS EXCLUSIVE."""

    def __init__(
        self, table_name: str, *, schema: str | None = None, cascade: bool = False
    ) -> None:
        self.table_name = table_name
        self.schema = schema
        self.cascade = cascade


class ValidateConstraintOp(AnalysisOp):
    """``ALTER TABLE ... VALIDATE CONSTRAINT``: scans under SHARE UPDATE EXCLUSIVE."""

    def __init__(self, table_name: str, constraint_name: str, *, schema: str | None = None) -> None:
        self.table_name = table_name
        self.constraint_name = constraint_name
        self.schema = schema


class AddConstraintUsingIndexOp(AnalysisOp):
    """``ADD CONSTRAINT ... UNIQUE/PRIMARY KEY USING INDEX``: catalog-only once the index exists."""

    def __init__(
        self,
        table_name: str,
        constraint_name: str | None,
        index_name: str,
        *,
        kind: str,
        schema: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.constraint_name = constraint_name
        self.index_name = index_name
        self.kind = kind
        self.schema = schema


class SetConfigOp(AnalysisOp):
    """``SET [LOCAL] name = value`` (e.g. ``lock_timeout``), which later rules take into account."""

    def __init__(self, name: str, value: str | None, *, local: bool = False) -> None:
        self.name = name
        self.value = value
        self.local = local


class TransactionControlOp(AnalysisOp):
    """``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` written as SQL (the COMMIT-first hack)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class LockTableOp(AnalysisOp):
    """``LOCK TABLE``: takes the named lock (ACCESS EXCLUSIVE by default) until commit."""

    def __init__(self, table_name: str, *, schema: str | None = None, mode: str) -> None:
        self.table_name = table_name
        self.schema = schema
        self.mode = mode


class MaintenanceOp(AnalysisOp):
    """``VACUUM [FULL]``, ``CLUSTER`` and ``REINDEX`` on a table (or index, for REINDEX)."""

    def __init__(
        self,
        command: str,
        table_name: str | None,
        *,
        schema: str | None = None,
        full: bool = False,
        concurrently: bool = False,
        target: str = "TABLE",
        object_name: str | None = None,
    ) -> None:
        self.command = command
        self.table_name = table_name
        self.schema = schema
        self.full = full
        self.concurrently = concurrently
        #: What REINDEX names: TABLE, INDEX, SCHEMA, DATABASE or SYSTEM.
        self.target = target
        #: The named object when it is not a table (the index of ``REINDEX INDEX``).
        self.object_name = object_name


class DataAccessOp(AnalysisOp):
    """Code that needs a live database: ``op.get_bind().execute(...)``, reflection, ``inspect()``.

    It cannot be analysed statically (its results drive the rest of the function), so it is
    recorded and reported as online-only; SQL it runs is still parsed and checked.
    """

    operation_name = "get_bind"

    def __init__(self, kind: str, sql: str | None = None) -> None:
        self.kind = kind
        self.sql = sql


@dataclass(frozen=True)
class Unparseable:
    """SQL that PostgreSQL's own parser (pglast) rejects: reported, never a crash."""

    sql: str
    error: str


class TableStorageOp(AnalysisOp):
    """``ALTER TABLE ... SET TABLESPACE x`` / ``SET LOGGED`` / ``SET UNLOGGED``: full rewrites."""

    def __init__(self, table_name: str, change: str, *, schema: str | None = None) -> None:
        self.table_name = table_name
        self.change = change
        self.schema = schema


class PartitionOp(AnalysisOp):
    """``ALTER TABLE parent ATTACH/DETACH PARTITION child``."""

    def __init__(
        self,
        table_name: str,
        partition: str,
        *,
        action: str,
        schema: str | None = None,
        concurrently: bool = False,
        is_default: bool = False,
        partition_schema: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.partition = partition
        self.partition_schema = partition_schema
        self.action = action
        self.schema = schema
        self.concurrently = concurrently
        self.is_default = is_default


class TriggerOp(AnalysisOp):
    """``CREATE [OR REPLACE] TRIGGER`` / ``DROP TRIGGER`` on a table."""

    def __init__(
        self, table_name: str, trigger_name: str, *, action: str, schema: str | None = None
    ) -> None:
        self.table_name = table_name
        self.trigger_name = trigger_name
        self.action = action
        self.schema = schema


class AddEnumValueOp(AnalysisOp):
    """``ALTER TYPE name ADD VALUE 'label'``."""

    def __init__(self, type_name: str, value: str, *, if_not_exists: bool = False) -> None:
        self.type_name = type_name
        self.value = value
        self.if_not_exists = if_not_exists


class AddExclusionConstraintOp(AnalysisOp):
    """``ADD CONSTRAINT ... EXCLUDE USING ...``: builds an index under ACCESS EXCLUSIVE."""

    def __init__(
        self, table_name: str, constraint_name: str | None, *, schema: str | None = None
    ) -> None:
        self.table_name = table_name
        self.constraint_name = constraint_name
        self.schema = schema


class InsertRowsOp(AnalysisOp):
    """``INSERT INTO table ...`` (``literals``: string constants it writes, for enum checks)."""

    def __init__(
        self, table_name: str, *, schema: str | None = None, literals: tuple[str, ...] = ()
    ) -> None:
        self.table_name = table_name
        self.schema = schema
        self.literals = literals


class CreateViewOp(AnalysisOp):
    """``CREATE [OR REPLACE] VIEW name ...`` (e.g. the old name kept working after a rename)."""

    def __init__(self, view_name: str, *, schema: str | None = None) -> None:
        self.view_name = view_name
        self.schema = schema
