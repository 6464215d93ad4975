"""Custom operations the rewriter emits, each with its renderer and implementation beside it.

Alembic attaches behaviour to operation classes by dispatch (``renderers.dispatch_for`` writes
the revision file, ``Operations.implementation_for`` runs the op when invoked directly), so an
op, the code it renders and what it does live together here. The rendered code uses only
Alembic's public API (``op.get_context().autocommit_block()``, ``op.execute``, comments): the
revision files stay plain Alembic and do not import alembic-safety.

Importing this module registers the renderers; :mod:`alembic_safety.rewrite` imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.operations import Operations, ops
from sqlalchemy import text

__all__ = ["AutocommitBlockOp", "BackfillOp", "NoteOp", "ReversibleExecuteSQLOp"]


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

    def __init__(self, text: str = "") -> None:
        self.text = text

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


class BackfillOp(ops.MigrateOperation):
    """A keyset-batched, resumable backfill of ``target`` from ``expression``, then a check.

    Renders plain Alembic code (no import of alembic-safety): an ``UPDATE`` per range of
    ``batch_size`` values of the integer primary key ``key``, each committed on its own when
    placed in an :class:`AutocommitBlockOp`. Only rows whose ``target`` still differs are
    written (``IS DISTINCT FROM``), so a rerun after a failure skips what is done, and a
    final count raises if any row still differs. ``sql`` holds the statements, already quoted.
    """

    def __init__(
        self,
        table_sql: str,
        key_sql: str,
        target_sql: str,
        expression_sql: str,
        batch_size: int,
    ) -> None:
        self.table_sql = table_sql
        self.key_sql = key_sql
        self.target_sql = target_sql
        self.expression_sql = expression_sql
        self.batch_size = batch_size

    @property
    def differs(self) -> str:
        return f"{self.target_sql} IS DISTINCT FROM {self.expression_sql}"

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
        return f"backfill of {self.table_sql}.{self.target_sql} incomplete: {{}} rows differ"

    def reverse(self) -> NoteOp:
        return NoteOp()  # the filled column goes with the revision that added it

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("backfill", self.table_sql, self.target_sql, self.expression_sql)


@renderers.dispatch_for(BackfillOp)
def _render_backfill(autogen_context: AutogenContext, operation: BackfillOp) -> list[str]:
    # A blank line closes one indented block (see _render_autocommit_block).
    step = operation.batch_size
    return [
        f"bind = {_op_prefix(autogen_context)}get_bind()",
        f"low, high = bind.execute(sa.text({operation.bounds_sql!r})).first() or (None, None)",
        f"for last in range(low or 0, high or 0, {step}):",
        f"bind.execute(sa.text({operation.update_sql!r}), {{'last': last, 'upto': last + {step}}})",
        "",
        f"left = bind.execute(sa.text({operation.remaining_sql!r})).scalar()",
        "if left:",
        f"raise RuntimeError({operation.error!r}.format(left))",
        "",
    ]


@Operations.implementation_for(BackfillOp)
def _run_backfill(operations: Operations, operation: BackfillOp) -> None:
    bind = operations.get_bind()
    low, high = bind.execute(text(operation.bounds_sql)).first() or (None, None)
    for last in range(low or 0, high or 0, operation.batch_size):
        bind.execute(
            text(operation.update_sql), {"last": last, "upto": last + operation.batch_size}
        )
    left = bind.execute(text(operation.remaining_sql)).scalar()
    if left:
        raise RuntimeError(operation.error.format(left))
