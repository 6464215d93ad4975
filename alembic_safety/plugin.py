"""The ``alembic.plugins`` entry point: adds ``alembic safety-check`` to the stock ``alembic`` CLI.

Alembic builds its subcommands from the public functions of ``alembic.command`` whose
``__module__`` is ``"alembic.command"``. Our ``setup()`` runs while the ``alembic`` package itself
is being imported, before ``alembic.command`` exists (importing it there is a circular import),
so it installs a one-shot import hook: as soon as ``alembic.command`` has finished executing, the
``safety-check`` function is attached to it. If the module is already loaded (plugin set up late)
the function is attached at once. Nothing in the user's project has to change.

``setup()`` also registers an autogenerate comparator that enables the rewriter when env.py lists
the plugin: ``context.configure(autogenerate_plugins=["alembic.autogenerate.*",
"alembic_safety"])``. Plugins can only add comparators, but Alembic reads env.py's
``process_revision_directives`` option after the comparators have run, so the comparator (last in
priority, adding no diffs) puts our hook there, behind the user's own (see
:mod:`alembic_safety.rewrite.install`). This module is imported by every ``alembic`` invocation,
so the rewriter is imported only when that comparator runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config
    from alembic.operations.ops import UpgradeOps
    from alembic.runtime.plugins import Plugin
    from alembic.util import PriorityDispatchResult

__all__ = ["COMMAND_NAME", "enable_rewriter", "safety_check", "setup"]

COMMAND_NAME = "safety-check"
_COMMAND_MODULE = "alembic.command"


def safety_check(config: Config, rev_range: str | None = None, verbose: bool = False) -> None:
    """Check migrations for production safety (alembic-safety): lint, then a dry run.

    The lint gives each revision a risk level and the safe code to write; the dry run runs every
    revision up, down and up again on a throwaway database (embedded PostgreSQL unless test_url
    is set). Options come from [tool.alembic_safety] in pyproject.toml, [alembic_safety] in
    alembic.ini, and -x key=value (e.g. alembic -x fail_on=MEDIUM -x dry_run=false
    safety-check). Exits 1 when a finding reaches fail_on or the dry run fails, 2 on a usage or
    configuration error.
    """
    from alembic_safety.cli import run_guarded

    def run() -> int:
        from alembic_safety.check import run_check, run_safety_check
        from alembic_safety.config import load_settings, parse_x_options

        cmd_opts = getattr(config, "cmd_opts", None)
        x_options = parse_x_options(getattr(cmd_opts, "x", None))
        overrides: dict[str, Any] = {"revision_range": rev_range}
        if verbose:
            overrides["verbose"] = True
        settings = load_settings(config, x_options=x_options, overrides=overrides)
        _require_script_location(config)
        if settings.dry_run:
            return run_safety_check(settings, config=config)
        return run_check(settings, config=config)

    code = run_guarded(run)
    if code:
        raise SystemExit(code)


def _require_script_location(config: Config) -> None:
    from alembic_safety.errors import UsageError

    if config.get_alembic_option("script_location") is None:
        where = config.config_file_name or "alembic.ini"
        raise UsageError(f"no script_location in {where} (is this an Alembic project?)")


def _as_alembic_command(function: Any) -> Any:
    """Make ``function`` look like one of Alembic's own commands, named ``safety-check``."""
    function.__name__ = COMMAND_NAME
    function.__qualname__ = COMMAND_NAME
    function.__module__ = _COMMAND_MODULE
    return function


def attach(command_module: types.ModuleType) -> None:
    """Add the command to a fully imported ``alembic.command`` module (idempotent)."""
    if getattr(command_module, COMMAND_NAME, None) is None:
        setattr(command_module, COMMAND_NAME, _as_alembic_command(safety_check))


class _AttachAfterExec(importlib.abc.Loader):
    """Wraps the real loader of ``alembic.command`` and attaches the command once it has run."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        attach(module)


class _CommandModuleFinder(importlib.abc.MetaPathFinder):
    """Finds ``alembic.command`` through the other finders and wraps its loader; one shot."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _COMMAND_MODULE:
            return None
        _remove_finder()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = (
                find(fullname, path, target) if find is not None else None
            )
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _AttachAfterExec(spec.loader)
                return spec
        return None


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CommandModuleFinder)]


def register_command() -> None:
    """Attach now if ``alembic.command`` is loaded, else as soon as it is imported."""
    module = sys.modules.get(_COMMAND_MODULE)
    if module is not None and hasattr(module, "upgrade"):
        attach(module)
        return
    if not any(isinstance(f, _CommandModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _CommandModuleFinder())


def enable_rewriter(
    autogen_context: AutogenContext, upgrade_ops: UpgradeOps
) -> PriorityDispatchResult:
    """Autogenerate comparator: install the rewriter as this context's revision hook.

    It compares nothing (``upgrade_ops`` is left as the other comparators made it), so
    ``alembic check`` and ``compare_metadata`` report exactly what they would without it.
    """
    from alembic.util import PriorityDispatchResult

    from alembic_safety.rewrite.install import install_hook

    install_hook(autogen_context.migration_context)
    return PriorityDispatchResult.CONTINUE


def setup(plugin: Plugin) -> None:
    """Called by Alembic (>= 1.20.1) for the ``alembic.plugins`` entry point."""
    from alembic.util import DispatchPriority  # loaded before plugins are set up

    register_command()
    plugin.add_autogenerate_comparator(
        enable_rewriter, "autogenerate", priority=DispatchPriority.LAST
    )
