"""Settings of the autogenerate rewriter, read from the project's configuration files.

Keys (``[tool.alembic_safety]`` in pyproject.toml, or ``[alembic_safety]`` in alembic.ini; the
ini wins, as in the linter's settings loader):

``rewrite_lock_timeout``
    ``SET lock_timeout`` at the start of each generated revision (default ``"5s"``; an empty
    string, ``"0"`` or ``"off"`` writes none).
``rewrite_statement_timeout``
    ``SET statement_timeout`` too, when set (default: none).
``backfill_batch_size``
    Primary-key values per batch in generated backfills (default 5000).
``rewrite_phases``
    ``true`` (default): expand / migrate / contract revisions; ``false``: one file, each op made
    safe in place (no shadow columns, drops stay where autogenerate put them).
``rewrites``
    The rewrites to apply (default all): ``index``, ``constraint``, ``not_null``, ``drop``,
    ``type_change``, ``rename`` (column and table renames made by your own hook).
``rewrite_strategy``
    How a rewriting type change is made online: ``"shadow-column"`` (default, one shadow column
    per changed column) or ``"shadow-table"`` (a copy of the whole table, swapped in; see
    :mod:`alembic_safety.rewrite.shadow_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alembic.config import Config

from alembic_safety.errors import UsageError

__all__ = ["REWRITES", "STRATEGIES", "RewriteSettings"]

#: Every rewrite, by the name the ``rewrites`` setting uses.
REWRITES: tuple[str, ...] = (
    "index",
    "constraint",
    "not_null",
    "drop",
    "type_change",
    "rename",
)

_KEYS = {
    "rewrite_lock_timeout": "lock_timeout",
    "rewrite_statement_timeout": "statement_timeout",
    "backfill_batch_size": "backfill_batch_size",
    "rewrite_phases": "phases",
    "rewrites": "rewrites",
    "rewrite_strategy": "strategy",
}
#: The values of ``rewrite_strategy``, the default first.
STRATEGIES: tuple[str, ...] = ("shadow-column", "shadow-table")
_OFF = frozenset({"", "0", "off", "none", "false"})


@dataclass(frozen=True)
class RewriteSettings:
    """What the rewriter does; the defaults are what it does without configuration."""

    lock_timeout: str | None = "5s"
    statement_timeout: str | None = None
    backfill_batch_size: int = 5000
    phases: bool = True
    rewrites: frozenset[str] = field(default_factory=lambda: frozenset(REWRITES))
    strategy: str = STRATEGIES[0]

    def enabled(self, rewrite: str) -> bool:
        return rewrite in self.rewrites

    @classmethod
    def from_config(cls, config: Config | None) -> RewriteSettings:
        """The settings from pyproject.toml, then alembic.ini; defaults for keys not given.

        Other keys of the sections belong to the linter and are ignored here.
        """
        if config is None:
            return cls()
        # One loader for every setting: the linter's validates these keys too.
        from alembic_safety.config import load_settings

        settings = load_settings(config)
        return cls.from_mapping(
            {key: getattr(settings, key) for key in _KEYS if hasattr(settings, key)}
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RewriteSettings:
        changes: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = _KEYS.get(raw_key.strip().replace("-", "_").lower())
            if key is not None:
                changes[key] = _convert(key, raw_key, value)
        return cls(**changes)


def _convert(key: str, raw_key: str, value: Any) -> Any:
    if key in ("lock_timeout", "statement_timeout"):
        text = str(value).strip().strip("'\"")
        return None if value is None or text.lower() in _OFF else text
    if key == "backfill_batch_size":
        try:
            size = int(value)
        except (TypeError, ValueError):
            size = 0
        if size < 1:
            raise UsageError(f"{raw_key} must be a positive integer, got {value!r}")
        return size
    if key == "strategy":
        return strategy_of(raw_key, value)
    if key == "phases":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise UsageError(f"{raw_key} must be true or false, got {value!r}")
        return text in ("1", "true", "yes", "on")
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    names = frozenset(str(item).strip().lower() for item in items if str(item).strip())
    unknown = sorted(names - set(REWRITES))
    if unknown:
        raise UsageError(f"{raw_key}: unknown rewrite(s) {unknown}; known: {list(REWRITES)}")
    return names


def strategy_of(raw_key: str, value: Any) -> str:
    """The ``rewrite_strategy`` value, checked (one place for both settings loaders)."""
    text = str(value).strip().strip("'\"").lower().replace("_", "-")
    if text not in STRATEGIES:
        raise UsageError(f"{raw_key} must be one of {', '.join(STRATEGIES)}, got {value!r}")
    return text
