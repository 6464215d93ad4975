"""Autogenerate safety rewrites: ``alembic revision --autogenerate`` writes the safe form.

In env.py::

    import alembic_safety.rewrite

    context.configure(
        ...,
        process_revision_directives=alembic_safety.rewrite.process_revision_directives,
        # or, keeping a hook of your own (it runs first):
        # process_revision_directives=alembic_safety.rewrite.compose(my_hook),
    )

On PostgreSQL, for tables that existed before the revision, the generated revision creates and
drops indexes ``CONCURRENTLY`` in an autocommit block, adds foreign keys and CHECK constraints
``NOT VALID`` and NOT NULL columns (without a server default) nullable. A second, chained
revision then validates the constraints and enforces NOT NULL without long locks, after a
marked TODO where the backfill goes. Every generated revision gets a risk header in its
docstring (see :mod:`alembic_safety.rewrite.header` for how, without changing file names).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alembic import util
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from alembic_safety.rewrite.custom_ops import AutocommitBlockOp, NoteOp, ReversibleExecuteSQLOp
from alembic_safety.rewrite.fixes import rewrite_ops, safe_follow_up
from alembic_safety.rewrite.header import Phase, RevisionMessage, add_header

__all__ = [
    "AutocommitBlockOp",
    "NoteOp",
    "ProcessRevisionDirectives",
    "ReversibleExecuteSQLOp",
    "RevisionMessage",
    "compose",
    "process_revision_directives",
]

ProcessRevisionDirectives = Callable[[MigrationContext, Any, list[ops.MigrationScript]], None]

_log = logging.getLogger(__name__)

#: Operations whose presence makes a revision a "contract" step (old code may still use them).
_CONTRACTING = (ops.DropTableOp, ops.DropColumnOp)


def process_revision_directives(
    context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
) -> None:
    """Make autogenerate output safe and add risk headers (an Alembic ``env.py`` hook).

    Scripts a previous hook put in ``directives`` are each rewritten; a follow-up script is
    inserted right after the script it completes and chained to it.
    """
    postgresql = context.dialect is not None and context.dialect.name == "postgresql"
    for script in list(directives):
        follow_up: ops.MigrationScript | None = None
        if postgresql and len(script.upgrade_ops_list) == 1:
            follow_up = _rewrite(context, revision, script)
        elif postgresql:
            _log.warning("alembic-safety: multiple-database revision left as generated")
        add_header(script, _phase(script))
        if follow_up is None:
            continue
        _chain_after(directives, script, follow_up)


def compose(user_hook: ProcessRevisionDirectives | None) -> ProcessRevisionDirectives:
    """A hook that runs ``user_hook`` (a function or an Alembic ``Rewriter``) and then ours.

    The user's hook sees autogenerate's output as Alembic made it; ours sees the result, so
    whatever ops the user adds are made safe and counted in the risk header too.
    """

    def hook(
        context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
    ) -> None:
        if user_hook is not None:
            user_hook(context, revision, directives)
        process_revision_directives(context, revision, directives)

    return hook


def _rewrite(
    context: MigrationContext, revision: Any, script: ops.MigrationScript
) -> ops.MigrationScript | None:
    deferred = rewrite_ops(context, revision, script)
    if not deferred:
        return None
    upgrade, downgrade, backfill = safe_follow_up(context.dialect, deferred)
    phase: Phase = "migrate" if backfill else "contract"
    message = str.__str__(script.message) if script.message else "empty message"
    upgrade_token = script.upgrade_ops_list[0].upgrade_token
    downgrade_token = script.downgrade_ops_list[0].downgrade_token
    follow_up = ops.MigrationScript(
        rev_id=util.rev_id(),
        message=f"{message.splitlines()[0]} ({phase})",
        upgrade_ops=ops.UpgradeOps(upgrade, upgrade_token=upgrade_token),
        downgrade_ops=ops.DowngradeOps(downgrade, downgrade_token=downgrade_token),
        head=script.rev_id,
        version_path=script.version_path,
    )
    add_header(follow_up, phase)
    return follow_up


def _chain_after(
    directives: list[ops.MigrationScript],
    script: ops.MigrationScript,
    follow_up: ops.MigrationScript,
) -> None:
    """Insert ``follow_up`` after ``script``; scripts that built on ``script`` build on it."""
    for other in directives:
        if other.head == script.rev_id:
            other.head = follow_up.rev_id
    directives.insert(directives.index(script) + 1, follow_up)


def _phase(script: ops.MigrationScript) -> Phase:
    pending: list[ops.MigrateOperation] = list(script.upgrade_ops_list)
    while pending:
        operation = pending.pop()
        if isinstance(operation, ops.OpContainer):
            pending.extend(operation.ops)
        elif isinstance(operation, _CONTRACTING):
            return "contract"
    return "expand"
