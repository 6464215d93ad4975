"""The rule registry, with every rule module of this package imported so its rule is registered.

One module per rule, discovered automatically: adding a rule is adding a module. Codes are
permanent (families: 1xx locking/rewrites, 2xx breaking changes, 3xx data loss, 4xx
transactions, 5xx data migrations, 6xx history, 7xx measured by the dry run, 9xx analysis
limits).
"""

from __future__ import annotations

import importlib
import pkgutil

from alembic_safety.rules.base import Rule, registry

__all__ = ["Rule", "registry"]

_NOT_RULES = frozenset({"base", "common"})

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name not in _NOT_RULES and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
