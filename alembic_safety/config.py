"""Settings, from the places Alembic users already keep configuration.

Lowest to highest priority: ``[tool.alembic_safety]`` in pyproject.toml, ``[alembic_safety]`` in
alembic.ini, ``-x key=value`` on the command line, then ``alembic-safety`` flags. Unknown keys in
the config files are errors (a typo must not silently disable a check); unknown ``-x`` keys are
ignored because ``-x`` is shared with the project's own env.py.
"""

from __future__ import annotations

import configparser
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from alembic.config import Config

from alembic_safety.errors import UsageError
from alembic_safety.risk import DEFAULT_TARGET_VERSION, Risk

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["FORMATS", "Settings", "load_settings", "parse_x_options"]

FORMATS = ("text", "json")
_COLORS = ("auto", "always", "never")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a check run. Field names are the config keys."""

    format: str = "text"
    fail_on: Risk = Risk.HIGH
    target_version: int = DEFAULT_TARGET_VERSION
    revision_range: str | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    strict: bool = False
    check_downgrade: bool = True
    color: str = "auto"
    show_suppressed: bool = False
    verbose: bool = False
    #: The deploy tooling sets ``lock_timeout`` itself, so revisions need not (silences AS406).
    lock_timeout_by_runner: bool = False
    #: Load env.py's ``target_metadata`` (offline, no database) so rules can see the models.
    use_models: bool = True
    #: ``safety-check`` runs the dry run after the lint (``false``: lint only).
    dry_run: bool = True
    #: Server for the dry run's throwaway database (default: embedded PostgreSQL).
    test_url: str | None = None
    #: Rows seeded per table by the dry run: ``N`` and/or ``table=N`` items.
    rows: tuple[str, ...] = ()
    #: Sample pg_locks while the dry run migrates.
    trace_locks: bool = True
    #: Only check revisions after this one (``REV:heads`` without REV): what a branch adds.
    since: str | None = None
    #: Production row counts for the dry run's duration estimates: ``N`` and/or ``table=N``.
    production_rows: tuple[str, ...] = ()
    #: A (replica of the) production database whose ``pg_class.reltuples`` give row counts;
    #: read only.
    stats_url: str | None = None
    #: Autogenerate rewriter (read by ``alembic_safety.rewrite`` in env.py; validated here too,
    #: so a typo fails the lint instead of being ignored).
    rewrite_lock_timeout: str | None = "5s"
    rewrite_statement_timeout: str | None = None
    backfill_batch_size: int = 5000
    rewrite_phases: bool = True
    rewrites: tuple[str, ...] = (
        "index",
        "constraint",
        "not_null",
        "drop",
        "type_change",
        "rename",
    )
    #: ``shadow-column`` or ``shadow-table``: how the rewriter makes a rewriting type change.
    rewrite_strategy: str = "shadow-column"
    #: Where each non-default value came from, for error messages.
    origin: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def merged(self, values: Mapping[str, Any], origin: str, *, strict_keys: bool) -> Settings:
        """A copy with ``values`` (raw strings, lists or TOML values) applied and validated."""
        known = {f.name for f in fields(self) if f.name != "origin"}
        changes: dict[str, Any] = {}
        for raw_key, raw_value in values.items():
            key = raw_key.strip().replace("-", "_").lower()
            if key not in known:
                if strict_keys:
                    raise UsageError(f"unknown setting {raw_key!r} in {origin}")
                continue
            changes[key] = _convert(key, raw_value, origin)
        if not changes:
            return self
        new_origin = dict(self.origin)
        new_origin.update(dict.fromkeys(changes, origin))
        return replace(self, **changes, origin=new_origin)


def _as_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        items = [str(value)]
    return tuple(item.upper() for item in items if item)


def _as_bool(key: str, value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{key} in {origin} must be true or false, got {value!r}")


def _convert(key: str, value: Any, origin: str) -> Any:
    if key in ("rewrite_lock_timeout", "rewrite_statement_timeout"):
        return str(value).strip() or None
    if key == "backfill_batch_size":
        try:
            size = int(str(value))
        except ValueError:
            size = 0
        if size <= 0:
            raise UsageError(f"backfill_batch_size in {origin} must be a positive integer")
        return size
    if key == "rewrite_strategy":
        from alembic_safety.rewrite.settings import strategy_of

        return strategy_of(f"rewrite_strategy in {origin}", value)
    if key == "rewrites":
        from alembic_safety.rewrite.settings import REWRITES

        names = tuple(name.lower() for name in _as_list(value))
        unknown = [name for name in names if name not in REWRITES]
        if unknown:
            raise UsageError(
                f"rewrites in {origin}: unknown {', '.join(unknown)} "
                f"(choose from {', '.join(REWRITES)})"
            )
        return names
    if key == "fail_on":
        try:
            return Risk.parse(str(value))
        except ValueError as exc:
            raise UsageError(f"fail_on in {origin}: {exc}") from None
    if key == "target_version":
        try:
            version = int(str(value).split(".")[0])
        except ValueError:
            raise UsageError(
                f"target_version in {origin} must be a PostgreSQL major version like 15, "
                f"got {value!r}"
            ) from None
        if not 9 <= version <= 30:
            raise UsageError(f"target_version in {origin} out of range: {version}")
        return version
    if key == "format":
        text = str(value).strip().lower()
        if text not in FORMATS:
            raise UsageError(
                f"format in {origin} must be one of {', '.join(FORMATS)}, got {value!r}"
            )
        return text
    if key == "color":
        text = str(value).strip().lower()
        if text not in _COLORS:
            raise UsageError(f"color in {origin} must be one of {', '.join(_COLORS)}")
        return text
    if key in ("select", "ignore"):
        return _as_list(value)
    if key in (
        "strict",
        "check_downgrade",
        "show_suppressed",
        "verbose",
        "lock_timeout_by_runner",
        "use_models",
        "dry_run",
        "trace_locks",
        "rewrite_phases",
    ):
        return _as_bool(key, value, origin)
    if key in ("revision_range", "test_url", "since", "stats_url"):
        return str(value).strip() or None
    if key in ("rows", "production_rows"):
        from alembic_safety.dryrun import parse_rows

        items = value if isinstance(value, (list, tuple)) else [value]
        parse_rows([str(item) for item in items])  # raises UsageError when malformed
        return tuple(str(item) for item in items)
    return value  # pragma: no cover - every key is handled above


def parse_x_options(values: list[str] | None) -> dict[str, str]:
    """``-x key=value`` pairs (Alembic's syntax); entries without ``=`` are ignored."""
    result: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if sep:
            result[key.strip()] = value.strip()
    return result


def _pyproject_path(config: Config | None) -> Path | None:
    candidates: list[Path] = []
    if config is not None:
        toml_name = getattr(config, "toml_file_name", None)
        if toml_name:
            candidates.append(Path(toml_name))
        if config.config_file_name:
            candidates.append(Path(config.config_file_name).absolute().parent / "pyproject.toml")
    candidates.append(Path("pyproject.toml"))
    return next((c for c in candidates if c.is_file()), None)


def _from_pyproject(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    section = data.get("tool", {}).get("alembic_safety", {})
    if not isinstance(section, dict):
        raise UsageError(f"[tool.alembic_safety] in {path} must be a table")
    return section


def _from_ini(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not parser.has_section("alembic_safety"):
        return {}
    return dict(parser.items("alembic_safety"))


def load_settings(
    config: Config | None,
    *,
    x_options: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings for a run: config files, then ``-x`` options, then explicit overrides (flags)."""
    settings = Settings()
    pyproject = _pyproject_path(config)
    if pyproject is not None:
        settings = settings.merged(
            _from_pyproject(pyproject), f"[tool.alembic_safety] of {pyproject}", strict_keys=True
        )
    if config is not None and config.config_file_name and Path(config.config_file_name).is_file():
        ini = Path(config.config_file_name)
        settings = settings.merged(_from_ini(ini), f"[alembic_safety] of {ini}", strict_keys=True)
    if x_options:
        settings = settings.merged(x_options, "-x options", strict_keys=False)
    if overrides:
        present = {k: v for k, v in overrides.items() if v is not None}
        settings = settings.merged(present, "command line", strict_keys=True)
    return settings
