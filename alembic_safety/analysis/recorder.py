"""Run a revision's upgrade()/downgrade() against a recorder instead of a database.

The recorder is a real :class:`alembic.operations.Operations` whose ``invoke`` keeps the operation
object instead of executing it. Because the revision's own Python runs, ops made through helper
functions, aliases, loops and variable table names are all seen — what an AST-only linter misses.
Each op gets the chain of revision-file lines that led to it (the statement in upgrade() first),
whether it ran inside ``autocommit_block()`` or ``batch_alter_table()``, and whether its table was
created earlier in the same revision. ``op.get_bind()`` returns a connection that never connects:
what it is asked to run is recorded as online-only data access, its results are empty.
"""

from __future__ import annotations

import io
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import alembic.context
import alembic.op
from alembic.config import Config
from alembic.operations import Operations, ops
from alembic.operations.base import BatchOperations
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspection
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from alembic_safety.analysis.ops import DataAccessOp, TransactionControlOp
from alembic_safety.analysis.sql import ParsedSql, parse
from alembic_safety.risk import Direction

__all__ = [
    "OpRecord",
    "Recording",
    "RecordingSession",
    "record_function",
    "record_operations",
]


@dataclass(frozen=True)
class OpRecord:
    """One operation as the revision made it, with where and in what context."""

    operation: ops.MigrateOperation
    direction: Direction
    index: int
    #: Revision-file lines that led here, outermost first (the statement in upgrade()/downgrade()).
    lines: tuple[int, ...] = ()
    in_autocommit: bool = False
    in_batch: bool = False
    table: str | None = None
    schema: str | None = None
    #: The table was created earlier in the same revision and direction (so it is empty).
    table_is_new: bool = False
    #: For ``op.execute`` and bind access: the SQL, parsed.
    sql: ParsedSql | None = None
    #: For operations derived from raw SQL: the statement they came from.
    from_sql: str | None = None
    #: How many statements the SQL string held (several run as one implicit transaction).
    statement_count: int = 1

    @property
    def line(self) -> int | None:
        """The line of the statement in upgrade()/downgrade() that led to this operation."""
        return self.lines[0] if self.lines else None

    @property
    def operation_name(self) -> str:
        """How the user wrote it: ``add_column``, ``execute``, ``get_bind`` ..."""
        if self.from_sql is not None:
            return "execute"
        return operation_name(self.operation)


def operation_name(operation: ops.MigrateOperation) -> str:
    """The ``op.<name>`` method an operation class corresponds to."""
    name = getattr(operation, "operation_name", None)
    if isinstance(name, str):
        return name
    if isinstance(operation, ops.ExecuteSQLOp):
        return "execute"
    cls_name = type(operation).__name__.removesuffix("Op")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in cls_name).lstrip("_")


def table_of(operation: ops.MigrateOperation) -> tuple[str | None, str | None]:
    """The (table, schema) an operation acts on, when it acts on one."""
    # ``is None`` tests, not ``or``: a stand-in name (unresolved import) is falsy but real.
    table = getattr(operation, "table_name", None)
    if table is None:
        table = getattr(operation, "source_table", None)
    if table is None:
        table = getattr(getattr(operation, "table", None), "name", None)
    schema = getattr(operation, "schema", None)
    if schema is None:
        schema = getattr(operation, "kw", {}).get("source_schema")
    return (str(table) if table is not None else None), (
        str(schema) if schema is not None else None
    )


@dataclass
class Recording:
    """The ops of one function run, and how the run ended."""

    direction: Direction
    records: list[OpRecord] = field(default_factory=list)
    #: Why the function stopped early (its ops up to there are still recorded).
    error: str | None = None
    error_line: int | None = None


_PG_DIALECT: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


def compile_sql(statement: Any) -> str:
    """SQL text for what a revision passes to ``op.execute`` / ``bind.execute``."""
    if isinstance(statement, str):
        return statement
    try:
        compiled = statement.compile(dialect=_PG_DIALECT)
        if any(bind.value is None for bind in compiled.binds.values()):
            # Values come with execute(): keep the placeholders (a keyset bound, not NULL).
            return str(compiled)
        return str(statement.compile(dialect=_PG_DIALECT, compile_kwargs={"literal_binds": True}))
    except Exception:
        try:
            return str(statement.compile(dialect=_PG_DIALECT))
        except Exception:
            return str(statement)


class Unknown:
    """A value read from the database in check mode: falsy, compares false, absorbs arithmetic.

    Lets code such as ``if bind.execute(count).scalar() > 0:`` carry on, so the operations after
    it are still analysed.
    """

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __int__(self) -> int:
        return 0

    __index__ = __int__

    def __float__(self) -> float:
        return 0.0

    def __add__(self, other: object) -> Unknown:
        return self

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __floordiv__ = __add__

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *_args: Any, **_kwargs: Any) -> Unknown:
        return self

    def __str__(self) -> str:
        return "<unknown>"

    __repr__ = __str__


class _EmptyResult:
    """What a recorded query returns: no rows, so code iterating results carries on."""

    rowcount = 0
    returns_rows = True

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def fetchall(self) -> list[Any]:
        return []

    all = fetchall

    def fetchmany(self, *_args: Any, **_kwargs: Any) -> list[Any]:
        return []

    def partitions(self, *_args: Any, **_kwargs: Any) -> Iterator[Any]:
        return iter(())

    def fetchone(self) -> None:
        return None

    first = one_or_none = scalar_one_or_none = fetchone

    def scalar(self) -> Unknown:
        return Unknown()

    one = scalar_one = scalar

    def scalars(self, *_args: Any) -> _EmptyResult:
        return self

    def mappings(self) -> _EmptyResult:
        return self

    def keys(self) -> list[str]:
        return []

    def close(self) -> None:
        return None


class RecordingConnection:
    """``op.get_bind()`` in check mode: looks like a Connection, never connects."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self.dialect = _PG_DIALECT
        self.engine = self
        self.connection = self
        self.closed = False
        self.in_transaction = lambda: True

    def execute(self, statement: Any, *_args: Any, **_kwargs: Any) -> _EmptyResult:
        self._recorder.record(DataAccessOp("execute", compile_sql(statement)))
        return _EmptyResult()

    def exec_driver_sql(self, statement: str, *_args: Any, **_kwargs: Any) -> _EmptyResult:
        return self.execute(statement)

    def scalar(self, statement: Any, *args: Any, **kwargs: Any) -> Unknown:
        return self.execute(statement, *args, **kwargs).scalar()

    def scalars(self, statement: Any, *args: Any, **kwargs: Any) -> _EmptyResult:
        return self.execute(statement, *args, **kwargs)

    @contextmanager
    def begin(self) -> Iterator[RecordingConnection]:
        yield self

    begin_nested = begin

    def connect(self) -> RecordingConnection:
        return self

    def commit(self) -> None:
        self._recorder.record(TransactionControlOp("commit"))

    def rollback(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> RecordingConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execution_options(self, **_kwargs: Any) -> RecordingConnection:
        return self


class _EmptyInspector:
    """``sqlalchemy.inspect(bind)`` in check mode: every reflection call returns nothing."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        def reflect(*_args: Any, **_kwargs: Any) -> Any:
            self._recorder.record(DataAccessOp(f"reflection ({name})"))
            return False if name.startswith("has_") else []

        return reflect


@inspection._inspects(RecordingConnection)
def _inspect_recording_connection(connection: RecordingConnection) -> _EmptyInspector:
    return _EmptyInspector(connection._recorder)


class _RecordingMigrationContext(MigrationContext):
    """Knows whether code runs inside ``autocommit_block()``; its bind never connects."""

    recorder: _Recorder

    @contextmanager
    def autocommit_block(self) -> Iterator[None]:
        self.recorder.autocommit_depth += 1
        try:
            yield
        finally:
            self.recorder.autocommit_depth -= 1

    @property
    def bind(self) -> Any:
        return self.recorder.connection


@dataclass
class _BatchTarget:
    table_name: str
    schema: str | None


class _RecordingBatchOperations(BatchOperations):
    def __init__(self, context: MigrationContext, recorder: _Recorder, target: _BatchTarget):
        super().__init__(context, impl=target)  # type: ignore[arg-type]
        self._recorder = recorder

    def invoke(self, operation: ops.MigrateOperation) -> Any:
        return self._recorder.record(operation, in_batch=True)


class _RecordingOperations(Operations):
    def __init__(self, context: MigrationContext, recorder: _Recorder | None) -> None:
        super().__init__(context)
        self._recorder_or_none = recorder

    @property
    def _recorder(self) -> _Recorder:
        assert self._recorder_or_none is not None, "no recording in progress"
        return self._recorder_or_none

    @_recorder.setter
    def _recorder(self, recorder: _Recorder) -> None:
        self._recorder_or_none = recorder

    def invoke(self, operation: ops.MigrateOperation) -> Any:
        return self._recorder.record(operation)

    def get_bind(self) -> Any:
        return self._recorder.connection

    @contextmanager
    def batch_alter_table(
        self, table_name: str, schema: str | None = None, *_args: Any, **_kwargs: Any
    ) -> Iterator[BatchOperations]:
        yield _RecordingBatchOperations(
            self.migration_context, self._recorder, _BatchTarget(table_name, schema)
        )


class _Recorder:
    def __init__(self, path: str, direction: Direction, context: _RecordingMigrationContext):
        self.path = path
        self.direction = direction
        self.context = context
        self.recording = Recording(direction)
        self.autocommit_depth = 0
        self.new_tables: set[tuple[str | None, str]] = set()
        self.connection = RecordingConnection(self)

    def _lines(self) -> tuple[int, ...]:
        frame: FrameType | None = sys._getframe(1)
        lines: list[int] = []
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                lines.append(frame.f_lineno)
            frame = frame.f_back
        return tuple(reversed(lines))

    def record(self, operation: ops.MigrateOperation, *, in_batch: bool = False) -> Any:
        lines = self._lines()
        self._append(operation, lines, in_batch=in_batch)
        sql_text: str | None = None
        if isinstance(operation, ops.ExecuteSQLOp):
            sql_text = compile_sql(operation.sqltext)
        elif isinstance(operation, DataAccessOp):
            sql_text = operation.sql
        if sql_text is not None:
            parsed = parse(sql_text)
            self._replace_last_sql(parsed)
            for statement in parsed.statements:
                for derived in statement.operations:
                    self._append(
                        derived,
                        lines,
                        in_batch=in_batch,
                        from_sql=statement.text,
                        statement_count=len(parsed.statements),
                    )
        if isinstance(operation, ops.CreateTableOp):
            return operation.to_table(self.context)
        return None

    def _replace_last_sql(self, parsed: ParsedSql) -> None:
        last = self.recording.records[-1]
        self.recording.records[-1] = OpRecord(**{**last.__dict__, "sql": parsed})

    def _append(
        self,
        operation: ops.MigrateOperation,
        lines: tuple[int, ...],
        *,
        in_batch: bool,
        from_sql: str | None = None,
        statement_count: int = 1,
    ) -> None:
        table, schema = table_of(operation)
        key = (schema, table) if table is not None else None
        is_new = key in self.new_tables if key else False
        # ``op.execute("COMMIT")`` ends the transaction but does not leave transactional mode:
        # SQLAlchemy with psycopg 3 opens the next one at once (proved on the server by
        # tests/test_no_database_touched.py), so it is a boundary for "same transaction" rules,
        # never an autocommit block.
        record = OpRecord(
            operation=operation,
            direction=self.direction,
            index=len(self.recording.records),
            lines=lines,
            in_autocommit=self.autocommit_depth > 0,
            in_batch=in_batch,
            table=table,
            schema=schema,
            table_is_new=is_new,
            from_sql=from_sql,
            statement_count=statement_count,
        )
        self.recording.records.append(record)
        if isinstance(operation, ops.CreateTableOp) and key:
            self.new_tables.add(key)
        elif isinstance(operation, ops.RenameTableOp) and key and is_new:
            self.new_tables.add((schema, str(operation.new_table_name)))
        elif isinstance(operation, ops.DropTableOp) and key:
            self.new_tables.discard(key)


_CONTEXT_OPTS = {"as_sql": True, "output_buffer": io.StringIO(), "target_metadata": None}


class RecordingSession:
    """Points ``alembic.op`` and ``alembic.context`` at a recorder for many recordings.

    Installing Alembic's module proxies costs ~120 attribute writes; doing it once per run instead
    of twice per revision matters on long histories. The previous proxies are restored on exit.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.context = _RecordingMigrationContext(_PG_DIALECT, None, dict(_CONTEXT_OPTS), None)
        self.operations = _RecordingOperations(self.context, None)
        self.environment = EnvironmentContext(config or Config(), None)  # type: ignore[arg-type]
        self.environment._migration_context = self.context
        self.environment.context_opts = {"as_sql": False}
        self._saved: tuple[Any, Any] = (None, None)

    def __enter__(self) -> RecordingSession:
        self._saved = (
            getattr(alembic.op, "_proxy", None),
            getattr(alembic.context, "_proxy", None),
        )
        install_proxy(self.operations, Operations)
        install_proxy(self.environment, EnvironmentContext)
        return self

    def __exit__(self, *_exc: object) -> None:
        clear_proxy(Operations)
        clear_proxy(EnvironmentContext)
        saved_op, saved_context = self._saved
        if saved_op is not None:
            install_proxy(saved_op, Operations)
        if saved_context is not None:
            install_proxy(saved_context, EnvironmentContext)

    def record(self, function: Callable[[], Any], *, path: str, direction: Direction) -> Recording:
        """Run ``function`` (a revision's upgrade or downgrade) and return what it did.

        Never raises for errors inside the revision's code: they end the recording early and
        are kept in ``Recording.error`` with the revision-file line where they happened.
        """
        recorder = _Recorder(path, direction, self.context)
        self.context.recorder = recorder
        self.operations._recorder = recorder
        try:
            function()
        except (Exception, SystemExit) as exc:  # a revision may even call sys.exit()
            recorder.recording.error = f"{type(exc).__name__}: {exc}"
            recorder.recording.error_line = _error_line(exc, path)
        return recorder.recording


def record_operations(
    operations: Iterable[ops.MigrateOperation],
    *,
    direction: Direction = "upgrade",
    new_tables: Iterable[str] = (),
    autocommit: bool = False,
) -> Recording:
    """Record operation objects that come from no file (autogenerate output, the public API).

    They go through the same bookkeeping as ops a revision makes (SQL parsing, COMMIT tracking,
    tables created earlier), so a danger is judged the same way wherever it comes from.
    """
    context = _RecordingMigrationContext(_PG_DIALECT, None, dict(_CONTEXT_OPTS), None)
    recorder = _Recorder("<operations>", direction, context)
    context.recorder = recorder
    recorder.new_tables.update((None, table) for table in new_tables)
    recorder.autocommit_depth = 1 if autocommit else 0
    pending = list(operations)
    while pending:
        operation = pending.pop(0)
        if isinstance(operation, ops.OpContainer):
            pending[:0] = list(operation.ops)
        else:
            recorder.record(operation)
    return recorder.recording


def record_function(
    function: Callable[[], Any],
    *,
    path: str,
    direction: Direction,
    config: Config | None = None,
) -> Recording:
    """Record one function in a session of its own (see :class:`RecordingSession`)."""
    with RecordingSession(config) as session:
        return session.record(function, path=path, direction=direction)


def install_proxy(instance: Any, proxied: type[Any]) -> None:
    """Point the module proxy of ``proxied`` (``alembic.op`` for Operations, ``alembic.context``
    for EnvironmentContext) at ``instance``, an object of a subclass.

    Alembic's ``_install_proxy()`` looks its module up by the instance's exact class, so it
    does nothing for subclasses; this looks it up by the proxied class instead.
    """
    attr_names, modules = proxied._setups[proxied]
    for globals_, _locals in modules:
        globals_["_proxy"] = instance
        for attr_name in attr_names:
            globals_[attr_name] = getattr(instance, attr_name)


def clear_proxy(proxied: type[Any]) -> None:
    """Undo :func:`install_proxy`."""
    attr_names, modules = proxied._setups[proxied]
    for globals_, _locals in modules:
        globals_["_proxy"] = None
        for attr_name in attr_names:
            globals_.pop(attr_name, None)


def _error_line(exc: BaseException, path: str) -> int | None:
    line: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == path:
            line = lineno
    return line
