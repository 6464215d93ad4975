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
marked TODO where the backfill goes. A rewriting type change becomes a shadow column kept in
sync by a trigger (expand), a keyset-batched backfill (migrate) and the swap (contract), or with
``rewrite_strategy = "shadow-table"`` a copy of the whole table swapped in
(:mod:`alembic_safety.rewrite.shadow_table`); drops move to a final contract revision of their
own (:mod:`alembic_safety.rewrite.phases`). Renames
made by the user's own hook become a synced column or a view under the old name, removed by a
contract revision (:mod:`alembic_safety.rewrite.renames`). Each
generated revision starts with ``SET lock_timeout``, and gets a risk header in its docstring
(see :mod:`alembic_safety.rewrite.header` for how, without changing file names). Settings:
:class:`alembic_safety.rewrite.settings.RewriteSettings`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from alembic import util
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from alembic_safety.rewrite.custom_ops import (
    AutocommitBlockOp,
    BackfillOp,
    NoteOp,
    ReversibleExecuteSQLOp,
    leaves,
)
from alembic_safety.rewrite.duration import read_row_estimates, size_bound_tables
from alembic_safety.rewrite.fixes import (
    contract_type_change,
    migrate_type_change,
    rewrite_ops,
    safe_follow_up,
    type_sql,
)
from alembic_safety.rewrite.header import Phase, RevisionMessage, add_header
from alembic_safety.rewrite.install import inside_alembic_check
from alembic_safety.rewrite.phases import (
    add_timeouts,
    close_comment_only_bodies,
    escalations_for_drops,
    readd_dropped_columns_nullable,
    split_drops,
)
from alembic_safety.rewrite.renames import rename_follow_ups
from alembic_safety.rewrite.settings import RewriteSettings
from alembic_safety.rewrite.shadow_table import follow_up_steps

__all__ = [
    "AutocommitBlockOp",
    "BackfillOp",
    "NoteOp",
    "ProcessRevisionDirectives",
    "ReversibleExecuteSQLOp",
    "RevisionMessage",
    "RewriteSettings",
    "compose",
    "process_revision_directives",
]

ProcessRevisionDirectives = Callable[[MigrationContext, Any, list[ops.MigrationScript]], None]

_log = logging.getLogger(__name__)

#: Operations whose presence makes a revision a "contract" step (old code may still use them).
_CONTRACTING = (ops.DropTableOp, ops.DropColumnOp)


def process_revision_directives(
    context: MigrationContext,
    revision: Any,
    directives: list[ops.MigrationScript],
    settings: RewriteSettings | None = None,
) -> None:
    """Make autogenerate output safe and add risk headers (an Alembic ``env.py`` hook).

    Scripts a previous hook put in ``directives`` are each rewritten; follow-up scripts are
    inserted right after the script they complete and chained to it. Settings come from the
    project's configuration (:class:`RewriteSettings`) unless ``settings`` is given. Scripts
    that already carry a risk header (a :class:`RevisionMessage`) were made by an earlier run
    of this hook and are left alone, so enabling the rewriter twice (env.py, plugin list,
    ``alembic-safety revision``) never rewrites or chains twice.
    """
    if inside_alembic_check():
        return  # `alembic check` reports autogenerate's own diff (of the last script only)
    if settings is None:
        settings = RewriteSettings.from_config(context.config)
    postgresql = context.dialect is not None and context.dialect.name == "postgresql"
    # Alembic's multidb template runs autogenerate once per engine, each time calling this
    # hook on the same script with one more engine's operations (its own upgrade_token): no
    # follow-up scripts there (the next engine's operations would land in the last one), and
    # the header is made again on each call, so that it covers every engine.
    multidb = context.opts.get("upgrade_token", "upgrades") != "upgrades"
    for script in list(directives):
        if isinstance(script.message, RevisionMessage) and not multidb:
            continue  # processed already (the rewriter is enabled more than once)
        follow_ups: list[_FollowUp] = []
        if postgresql and not multidb and len(script.upgrade_ops_list) == 1:
            follow_ups = _rewrite(context, revision, script, settings)
        elif postgresql:
            _log.warning("alembic-safety: multiple-database revision left as generated")
        previous = script
        chain = [(script, _phase(script), None), *follow_ups]
        tables = [t for generated, _, _ in chain for t in size_bound_tables(generated)]
        rows = read_row_estimates(context.connection, list(dict.fromkeys(tables)))
        for generated, phase, escalations in chain:
            if postgresql:
                add_timeouts(generated, settings)
                readd_dropped_columns_nullable(generated)
            if escalations is None:
                escalations = escalations_for_drops(generated)
            add_header(generated, phase, escalations, rows)
            close_comment_only_bodies(generated)
            if generated is not script:
                generated.head = previous.rev_id
                _chain_after(directives, previous, generated)
            previous = generated


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


_PHASE_ORDER: dict[Phase, int] = {"expand": 0, "migrate": 1, "contract": 2}

#: A script to chain, its phase and its escalation notes (None: one per drop it makes).
_FollowUp = tuple[ops.MigrationScript, Phase, Sequence[str] | None]


def _rewrite(
    context: MigrationContext,
    revision: Any,
    script: ops.MigrationScript,
    settings: RewriteSettings,
) -> list[_FollowUp]:
    """Rewrite ``script`` in place; the scripts to chain after it, in order."""
    drops = split_drops(script) if settings.phases and settings.enabled("drop") else None
    deferred = rewrite_ops(context, revision, script, settings)
    dialect = context.dialect
    follow_ups: list[_FollowUp] = []
    migrates: list[_FollowUp] = []
    contracts: list[_FollowUp] = []
    if deferred:
        steps = safe_follow_up(dialect, deferred)
        if settings.phases:
            if steps.migrate_up:
                # Proving rows (VALIDATE) removes nothing old code uses: a migrate step too.
                suffix = None if steps.fills else "validate"
                up, down = steps.migrate_up, steps.migrate_down
                migrates.append(
                    (_script_after(script, "migrate", up, down, suffix), "migrate", None)
                )
            if steps.contract_up:
                up, down = steps.contract_up, steps.contract_down
                contract = _script_after(script, "contract", up, down, "not_null")
                contracts.append((contract, "contract", None))
        else:  # one file: the follow-up's steps at the end, in their own autocommit blocks
            script.upgrade_ops_list[0].ops += [*steps.migrate_up, *steps.contract_up]
            script.downgrade_ops_list[0].ops[:0] = [*steps.contract_down, *steps.migrate_down]
    if deferred.type_changes:
        migrate = [
            op_
            for change in deferred.type_changes
            for op_ in migrate_type_change(dialect, change, settings.backfill_batch_size)
        ]
        migrates.append((_script_after(script, "migrate", migrate, []), "migrate", None))
        contract_up: list[ops.MigrateOperation] = []
        contract_down: list[ops.MigrateOperation] = []
        for change in deferred.type_changes:
            up, down = contract_type_change(dialect, change, settings.backfill_batch_size)
            contract_up += up
            contract_down[:0] = down
        notes = [
            f"renames {c.table}.{c.shadow} to {c.column}: deploy with the application change "
            f"that reads {c.column} as {type_sql(dialect, c.new_type)}"
            for c in deferred.type_changes
        ]
        contract = _script_after(script, "contract", contract_up, contract_down)
        contracts.append((contract, "contract", notes))
    follow_ups += migrates + contracts
    if deferred.shadow_tables:  # rewrite_strategy = "shadow-table"
        for step in follow_up_steps(
            dialect, script, deferred.shadow_tables, settings.backfill_batch_size
        ):
            shadow = _script_after(script, step.phase, step.upgrade, step.downgrade, step.suffix)
            follow_ups.append((shadow, step.phase, step.escalations))
    for renamed in rename_follow_ups(dialect, deferred.renames, settings.backfill_batch_size):
        follow_up = _script_after(script, renamed.phase, renamed.upgrade, renamed.downgrade)
        follow_ups.append((follow_up, renamed.phase, renamed.escalations))
    # Every migrate step (it runs while the application does) before any contract step; the
    # sort is stable, so each rewrite's own steps keep their order.
    follow_ups.sort(key=lambda follow_up: _PHASE_ORDER[follow_up[1]])
    if drops is not None:
        final = _script_after(script, "contract", drops.upgrade, drops.downgrade, "drop")
        follow_ups.append((final, "contract", None))
    return follow_ups


def _script_after(
    script: ops.MigrationScript,
    phase: Phase,
    upgrade: list[ops.MigrateOperation],
    downgrade: list[ops.MigrateOperation],
    suffix: str | None = None,
) -> ops.MigrationScript:
    """A new script with ``script``'s message, tokens and location (chained later)."""
    message = str.__str__(script.message) if script.message else "empty message"
    upgrade_token = script.upgrade_ops_list[0].upgrade_token
    downgrade_token = script.downgrade_ops_list[0].downgrade_token
    return ops.MigrationScript(
        rev_id=util.rev_id(),
        message=f"{message.splitlines()[0]} ({suffix or phase})",
        upgrade_ops=ops.UpgradeOps(upgrade, upgrade_token=upgrade_token),
        downgrade_ops=ops.DowngradeOps(downgrade, downgrade_token=downgrade_token),
        head=script.rev_id,
        version_path=script.version_path,
    )


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
    contracting = any(isinstance(o, _CONTRACTING) for o in leaves(script.upgrade_ops_list))
    return "contract" if contracting else "expand"
