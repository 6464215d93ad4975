"""Custom operations the rewriter emits, each with its renderer and implementation beside it.

Alembic attaches behaviour to operation classes by dispatch (``renderers.dispatch_for`` writes
the revision file, ``Operations.implementation_for`` runs the op when invoked directly), so an
op, the code it renders and what it does live together here. The rendered code uses only
Alembic's public API (``op.get_context().autocommit_block()``, ``op.execute``, comments): the
revision files stay plain Alembic and do not import alembic-safety.

Importing this module registers the renderers; :mod:`alembic_safety.rewrite` imports it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.operations import Operations, ops
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Dialect

__all__ = [
    "AssertNoNullsOp",
    "AutocommitBlockOp",
    "BackfillOp",
    "DropInvalidIndexOp",
    "NoteOp",
    "PassOp",
    "ReversibleExecuteSQLOp",
    "leaves",
    "quoter",
]


def fit_identifier(name: str) -> str:
    """``name`` within PostgreSQL's 63 bytes, still unique when it had to be cut.

    PostgreSQL truncates longer identifiers silently, so two generated names sharing their
    first 63 bytes (two columns of a long-named table) would collide: a cut name ends with a
    hash of the whole one.
    """
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[:54].decode("utf-8", "ignore") + "_" + digest


def quoter(dialect: Dialect) -> Callable[[str], str]:
    """The dialect's identifier quoting, for SQL text the rewriter writes itself.

    With a ``%``-style paramstyle (psycopg, psycopg2), ``quote()`` doubles every ``%`` for a
    statement compiled with parameters; our text goes through ``op.execute`` / ``sa.text``,
    which escape ``%`` again, so a table named ``a%b`` would reach the server as ``a%%b``.
    """
    quote: Callable[[str], str] = dialect.identifier_preparer.quote
    if not getattr(dialect.identifier_preparer, "_double_percents", False):
        return quote
    return lambda name: quote(name).replace("%%", "%")


def leaves(operations: Iterable[ops.MigrateOperation]) -> Iterator[ops.MigrateOperation]:
    """Every operation that is not a container (blocks and table groups opened), in order."""
    for operation in operations:
        if isinstance(operation, ops.OpContainer):
            yield from leaves(operation.ops)
        else:
            yield operation


def _op_prefix(autogen_context: AutogenContext) -> str:
    """``op.`` unless env.py configured another ``alembic_module_prefix``."""
    prefix = autogen_context.opts.get("alembic_module_prefix")
    return str(prefix) if prefix is not None else "op."


class AutocommitBlockOp(ops.OpContainer):
    """Operations that must run outside a transaction (``CREATE INDEX CONCURRENTLY``, and
    statements whose locks should be released one by one, such as ``VALIDATE CONSTRAINT``).

    Renders ``with op.get_context().autocommit_block():`` and its operations indented; Alembic
    commits the migration's transaction before the block and opens a new one after it.
    """

    def __init__(self, operations: Sequence[ops.MigrateOperation] = ()) -> None:
        super().__init__(operations)

    def reverse(self) -> AutocommitBlockOp:
        """The inner operations reversed, still outside a transaction."""
        return AutocommitBlockOp([operation.reverse() for operation in reversed(self.ops)])

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("autocommit_block", [operation.to_diff_tuple() for operation in self.ops])


@renderers.dispatch_for(AutocommitBlockOp)
def _render_autocommit_block(
    autogen_context: AutogenContext, operation: AutocommitBlockOp
) -> list[str]:
    inner = [line for op_ in operation.ops for line in render_op(autogen_context, op_)]
    if not inner:
        return []  # nothing left to run (e.g. the reverse of VALIDATE): no empty ``with``
    # Alembic's PythonPrinter indents after a line ending in ":" and dedents on an empty line,
    # exactly as it does for ``batch_alter_table`` blocks.
    return [f"with {_op_prefix(autogen_context)}get_context().autocommit_block():", *inner, ""]


@Operations.implementation_for(AutocommitBlockOp)
def _run_autocommit_block(operations: Operations, operation: AutocommitBlockOp) -> None:
    with operations.get_context().autocommit_block():
        for inner in operation.ops:
            operations.invoke(inner)


class ReversibleExecuteSQLOp(ops.ExecuteSQLOp):
    """``op.execute(sql)`` that knows its inverse (``None``: nothing to undo).

    ``ExecuteSQLOp.reverse()`` raises, so generated SQL such as ``VALIDATE CONSTRAINT`` (which
    proves, and changes nothing a downgrade would undo) needs its own op to take part in
    ``UpgradeOps.reverse()``. It stays an ``ExecuteSQLOp``: the analysis and Alembic's own
    execution treat it as the SQL it is.
    """

    def __init__(self, sqltext: str, reverse_sqltext: str | None = None) -> None:
        super().__init__(sqltext)
        self.reverse_sqltext = reverse_sqltext

    def reverse(self) -> ops.MigrateOperation:
        if self.reverse_sqltext is None:
            return NoteOp()
        return ReversibleExecuteSQLOp(self.reverse_sqltext, str(self.sqltext))

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("execute", str(self.sqltext))


@renderers.dispatch_for(ReversibleExecuteSQLOp)
def _render_sql(autogen_context: AutogenContext, operation: ReversibleExecuteSQLOp) -> str:
    return f"{_op_prefix(autogen_context)}execute({str(operation.sqltext)!r})"


class NoteOp(ops.MigrateOperation):
    """A comment in the revision file, e.g. the TODO for a backfill only the user can write.

    Runs nothing; an empty note renders nothing (so a downgrade of nothing renders ``pass``).
    """

    def __init__(self, text: str = "", scans: str | None = None) -> None:
        self.text = text
        #: The table whose rows the code this note asks for will read (a TODO backfill).
        self.scans = scans

    def reverse(self) -> NoteOp:
        return NoteOp()

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("note", self.text)


@renderers.dispatch_for(NoteOp)
def _render_note(autogen_context: AutogenContext, operation: NoteOp) -> list[str]:
    return [f"# {line}".rstrip() for line in operation.text.splitlines()]


@Operations.implementation_for(NoteOp)
def _run_note(operations: Operations, operation: NoteOp) -> None:
    """A comment does nothing."""


class PassOp(ops.MigrateOperation):
    """``pass``: a function whose body is only comments (a TODO) is not valid Python."""

    def reverse(self) -> PassOp:
        return PassOp()

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("pass",)


@renderers.dispatch_for(PassOp)
def _render_pass(autogen_context: AutogenContext, operation: PassOp) -> str:
    return "pass"


@Operations.implementation_for(PassOp)
def _run_pass(operations: Operations, operation: PassOp) -> None:
    """Nothing to do."""


class BackfillOp(ops.MigrateOperation):
    """A keyset-batched, resumable backfill of ``target`` from ``expression``, then a check.

    Renders plain Alembic code (no import of alembic-safety): an ``UPDATE`` per range of
    ``batch_size`` values of the integer primary key ``key``, each committed on its own when
    placed in an :class:`AutocommitBlockOp`. Only rows still to do are written — those whose
    ``target`` differs (``IS DISTINCT FROM``), or with ``only_nulls`` those where it is NULL
    (a constant or a volatile default: rows the application already wrote keep their value) —
    so a rerun after a failure skips what is done, and a final count raises if any row is left.
    Progress goes to the ``alembic.runtime.migration`` logger at INFO (shown by Alembic's default
    logging configuration) at most every ``progress_seconds``, and after the last batch. The SQL
    parts are given already quoted.
    """

    def __init__(
        self,
        table_sql: str,
        key_sql: str,
        target_sql: str,
        expression_sql: str,
        batch_size: int,
        *,
        only_nulls: bool = False,
        progress_seconds: float = 5.0,
    ) -> None:
        self.table_sql = table_sql
        self.key_sql = key_sql
        self.target_sql = target_sql
        self.expression_sql = expression_sql
        self.batch_size = batch_size
        self.only_nulls = only_nulls
        self.progress_seconds = progress_seconds

    @property
    def scans(self) -> str:
        """The table whose rows this op reads (the header's duration line names it)."""
        return self.table_sql

    @property
    def differs(self) -> str:
        if self.only_nulls:
            return f"{self.target_sql} IS NULL"
        return f"{self.target_sql} IS DISTINCT FROM {self.expression_sql}"

    @property
    def label(self) -> str:
        """``table.column`` as the log lines and the error name it."""
        return f"{self.table_sql}.{self.target_sql}"

    @property
    def bounds_sql(self) -> str:
        return f"SELECT min({self.key_sql}) - 1, max({self.key_sql}) FROM {self.table_sql}"

    @property
    def update_sql(self) -> str:
        return (
            f"UPDATE {self.table_sql} SET {self.target_sql} = {self.expression_sql} "
            f"WHERE {self.key_sql} > :last AND {self.key_sql} <= :upto AND {self.differs}"
        )

    @property
    def remaining_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table_sql} WHERE {self.differs}"

    @property
    def error(self) -> str:
        """The final check's message, ``{}`` standing for the count of rows left."""
        left = "are still NULL" if self.only_nulls else f"still differ from {self.expression_sql}"
        return (
            f"backfill of {_braces(self.label)} incomplete: {{}} rows {_braces(left)}; fix what "
            "keeps them from being written, then rerun this revision (finished rows are skipped)"
        )

    @property
    def progress(self) -> str:
        """The log line: rows written so far, the key reached, the last key."""
        return f"backfill {_percent(self.label)}: %s rows written, {self.key_sql} %s of %s"

    def reverse(self) -> NoteOp:
        return NoteOp()  # the filled column goes with the revision that added it

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("backfill", self.table_sql, self.target_sql, self.expression_sql)


def _braces(text_: str) -> str:
    """``text_`` safe inside a ``str.format`` template."""
    return text_.replace("{", "{{").replace("}", "}}")


def _percent(text_: str) -> str:
    """``text_`` safe inside a ``%``-style logging message."""
    return text_.replace("%", "%%")


#: The logger Alembic's own messages use: its default logging configuration shows INFO.
MIGRATION_LOGGER = "alembic.runtime.migration"


@renderers.dispatch_for(BackfillOp)
def _render_backfill(autogen_context: AutogenContext, operation: BackfillOp) -> list[str]:
    # A blank line closes one indented block (see _render_autocommit_block).
    autogen_context.imports.update({"import logging", "import time"})
    step = operation.batch_size
    return [
        f"log = logging.getLogger({MIGRATION_LOGGER!r})",
        f"bind = {_op_prefix(autogen_context)}get_bind()",
        f"low, high = bind.execute(sa.text({operation.bounds_sql!r})).first() or (None, None)",
        "done, logged = 0, time.monotonic()",
        f"for last in range(low or 0, high or 0, {step}):",
        f"done += bind.execute(sa.text({operation.update_sql!r}), "
        f"{{'last': last, 'upto': last + {step}}}).rowcount",
        f"if last + {step} >= high or time.monotonic() - logged >= {operation.progress_seconds}:",
        f"log.info({operation.progress!r}, done, min(last + {step}, high), high)",
        "logged = time.monotonic()",
        "",
        "",
        f"left = bind.execute(sa.text({operation.remaining_sql!r})).scalar()",
        "if left:",
        f"raise RuntimeError({operation.error!r}.format(left))",
        "",
    ]


@Operations.implementation_for(BackfillOp)
def _run_backfill(operations: Operations, operation: BackfillOp) -> None:
    """What the rendered code does, for a BackfillOp invoked directly."""
    log = logging.getLogger(MIGRATION_LOGGER)
    bind = operations.get_bind()
    bounds = bind.execute(text(operation.bounds_sql)).first()
    low, high = (int(bounds[0] or 0), int(bounds[1] or 0)) if bounds else (0, 0)
    done, logged, step = 0, time.monotonic(), operation.batch_size
    for last in range(low, high, step):
        batch = {"last": last, "upto": last + step}
        done += bind.execute(text(operation.update_sql), batch).rowcount
        if last + step >= high or time.monotonic() - logged >= operation.progress_seconds:
            log.info(operation.progress, done, min(last + step, high), high)
            logged = time.monotonic()
    left = bind.execute(text(operation.remaining_sql)).scalar()
    if left:
        raise RuntimeError(operation.error.format(left))


#: Quotes names the way PostgreSQL parses them (the ops below are PostgreSQL-only).
_POSTGRESQL: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


def _regclass(schema: str | None, name: str) -> str:
    """The quoted, qualified name ``to_regclass()`` parses."""
    quote = quoter(_POSTGRESQL)
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


class DropInvalidIndexOp(ops.MigrateOperation):
    """Drop ``index_name`` only if it exists and is INVALID; runs before its concurrent create.

    A failed ``CREATE INDEX CONCURRENTLY`` (a duplicate for a unique index, a timeout, a
    cancelled deploy) leaves an INVALID index behind: a rerun then fails with "already exists",
    or with ``IF NOT EXISTS`` keeps an index that is never used and still slows every write.
    Dropping it ``CONCURRENTLY`` first makes the create that follows safe to rerun. A valid
    index, or none, is left alone. Must run in an autocommit block, like the create.
    """

    def __init__(self, index_name: str, table_name: str | None, schema: str | None) -> None:
        self.index_name = index_name
        self.table_name = table_name
        self.schema = schema

    #: True when the index named ``:name`` (quoted, qualified) exists and is INVALID.
    invalid_sql = "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"

    @property
    def regclass(self) -> str:
        return _regclass(self.schema, self.index_name)

    def drop(self) -> ops.DropIndexOp:
        return ops.DropIndexOp(
            self.index_name,
            table_name=self.table_name,
            schema=self.schema,
            postgresql_concurrently=True,
        )

    def reverse(self) -> NoteOp:
        return NoteOp()  # it only removes a broken leftover: nothing to bring back

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("drop_invalid_index", self.schema, self.index_name)


@renderers.dispatch_for(DropInvalidIndexOp)
def _render_drop_invalid_index(
    autogen_context: AutogenContext, operation: DropInvalidIndexOp
) -> list[str]:
    return [
        "# a failed CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it to build it again",
        f"invalid = sa.text({operation.invalid_sql!r})",
        f"if not {_op_prefix(autogen_context)}get_context().as_sql and "
        f"{_op_prefix(autogen_context)}get_bind().execute("
        f"invalid, {{'name': {operation.regclass!r}}}).scalar():",
        *render_op(autogen_context, operation.drop()),
        "",
    ]


@Operations.implementation_for(DropInvalidIndexOp)
def _run_drop_invalid_index(operations: Operations, operation: DropInvalidIndexOp) -> None:
    if operations.get_context().as_sql:
        return  # offline (--sql): there is no index to look at; the script shows the create
    invalid = text(operation.invalid_sql)
    if operations.get_bind().execute(invalid, {"name": operation.regclass}).scalar():
        operations.invoke(operation.drop())


class AssertNoNullsOp(ops.MigrateOperation):
    """Fail loudly, with what to do, while ``column`` still has NULLs: a validation block.

    Runs before a NOT NULL check is added and validated, so a missing backfill stops the
    revision before it changes anything (a rerun after the backfill starts clean) and the
    message names the table, the column, the count and the fix, instead of a bare
    "check constraint is violated by some row".
    """

    def __init__(
        self, table_sql: str, column_sql: str, why: str = "it makes the column NOT NULL"
    ) -> None:
        self.table_sql = table_sql
        self.column_sql = column_sql
        self.why = why

    @property
    def scans(self) -> str:
        """The table whose rows the count reads (the header's duration line names it)."""
        return self.table_sql

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table_sql} WHERE {self.column_sql} IS NULL"

    @property
    def error(self) -> str:
        """The message, ``{}`` standing for the count of NULL rows."""
        label = _braces(f"{self.table_sql}.{self.column_sql}")
        return (
            f"{label} still has {{}} NULL rows: backfill {label} before running this revision "
            f"({_braces(self.why)})"
        )

    def reverse(self) -> NoteOp:
        return NoteOp()  # a check changes nothing

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("assert_no_nulls", self.table_sql, self.column_sql)


@renderers.dispatch_for(AssertNoNullsOp)
def _render_assert_no_nulls(
    autogen_context: AutogenContext, operation: AssertNoNullsOp
) -> list[str]:
    return [
        f"nulls = {_op_prefix(autogen_context)}get_bind().execute("
        f"sa.text({operation.count_sql!r})).scalar()",
        "if nulls:",
        f"raise RuntimeError({operation.error!r}.format(nulls))",
        "",
    ]


@Operations.implementation_for(AssertNoNullsOp)
def _run_assert_no_nulls(operations: Operations, operation: AssertNoNullsOp) -> None:
    nulls = operations.get_bind().execute(text(operation.count_sql)).scalar()
    if nulls:
        raise RuntimeError(operation.error.format(nulls))
