"""The ``alembic-safety`` console script: every option as a flag, Alembic's conventions kept.

``-c`` names alembic.ini or pyproject.toml, ``-x key=value`` works as with ``alembic``, revision
ranges are ``A:B``. Errors print one line and exit 2; set ``ALEMBIC_SAFETY_DEBUG=1`` to get the
traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic_safety import __version__
from alembic_safety.dryrun import add_dry_run_arguments
from alembic_safety.errors import EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

    from alembic_safety.config import Settings

__all__ = ["main", "run_guarded"]


def run_guarded(run: Callable[[], int]) -> int:
    """Run a command; turn bad input and unexpected failures into a one-line error and exit 2."""
    try:
        return run()
    except UsageError as exc:
        print(f"alembic-safety: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("alembic-safety: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("ALEMBIC_SAFETY_DEBUG"):
            traceback.print_exc()
        print(
            f"alembic-safety: internal error: {type(exc).__name__}: {exc} "
            "(set ALEMBIC_SAFETY_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line message (it already does; keep it explicit)."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"alembic-safety: error: {message}\n")


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        help="revision files or versions directories (pre-commit mode); default: the history of "
        "the Alembic config",
    )
    parser.add_argument(
        "-c",
        "--config",
        help="alembic.ini or pyproject.toml "
        "(default: $ALEMBIC_CONFIG, ./alembic.ini, ./pyproject.toml)",
    )
    parser.add_argument("-n", "--name", default="alembic", help="ini section of the Alembic config")
    parser.add_argument(
        "-x", action="append", metavar="KEY=VALUE", help="setting, as with alembic -x"
    )
    parser.add_argument("--format", choices=("text", "json"), help="output format (default text)")
    parser.add_argument(
        "--fail-on",
        metavar="LEVEL",
        help="exit 1 when a finding is at or above LEVEL: LOW, MEDIUM, HIGH (default), CRITICAL",
    )
    parser.add_argument(
        "--target-version", metavar="N", help="PostgreSQL major version (default 15)"
    )
    parser.add_argument(
        "-r",
        "--revision-range",
        metavar="A:B",
        help="only report revisions in A:B (e.g. abc123:head)",
    )
    parser.add_argument(
        "--select", action="append", metavar="CODES", help="only these codes/prefixes"
    )
    parser.add_argument(
        "--ignore", action="append", metavar="CODES", help="skip these codes/prefixes"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="also exit 1 when a revision could not be analysed",
    )
    parser.add_argument(
        "--no-downgrade",
        dest="check_downgrade",
        action="store_false",
        default=None,
        help="do not check downgrade() functions",
    )
    parser.add_argument("--color", choices=("auto", "always", "never"), help="colour output")
    parser.add_argument(
        "--show-suppressed", action="store_true", default=None, help="list suppressed findings"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=None, help="list clean revisions too"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alembic-safety",
        description="Make Alembic migrations safe for production PostgreSQL.",
        epilog="Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or config error.",
    )
    parser.add_argument("--version", action="version", version=f"alembic-safety {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser(
        "check",
        help="lint the revision history (no database needed)",
        description="Lint revisions statically: risk level, reasons and the safe code to write.",
    )
    _add_check_arguments(check)
    safety = commands.add_parser(
        "safety-check",
        help="the CI command: lint, then every revision up -> down -> up on a throwaway database",
        description="Lint the history, then dry-run it on a throwaway PostgreSQL database "
        "(embedded by default; never the project's own database).",
    )
    _add_check_arguments(safety)
    add_dry_run_arguments(safety, common=False, optional=True)
    dry = commands.add_parser(
        "dry-run",
        help="run every revision up -> down -> up on a throwaway PostgreSQL database",
        description="Seed, upgrade, snapshot, downgrade, compare, upgrade again: revision by "
        "revision, on a database alembic-safety creates and drops itself.",
    )
    add_dry_run_arguments(dry)
    rules = commands.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    rules.add_argument(
        "--write-docs", metavar="DIR", help="write the rule reference (Markdown) into DIR"
    )
    explain = commands.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("rule", help="code (AS101) or name (add-not-null-column-without-default)")
    return parser


def _flatten(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [item for value in values for item in value.replace(",", " ").split()]


def _check(args: argparse.Namespace) -> int:
    from alembic_safety.check import run_check

    config, settings = _settings(args)
    return run_check(settings, config=config, paths=args.paths)


def _safety_check(args: argparse.Namespace) -> int:
    from alembic_safety.check import run_check, run_safety_check

    config, settings = _settings(
        args,
        test_url=args.test_url,
        rows=args.rows,
        dry_run=False if args.no_dry_run else None,
        trace_locks=None if args.trace_locks else False,
        since=args.since,
        production_rows=args.production_rows,
        stats_url=args.stats_url,
    )
    if args.paths or config is None or not settings.dry_run:
        return run_check(settings, config=config, paths=args.paths)  # pre-commit: no env.py
    return run_safety_check(settings, config=config, keep=args.keep)


def _dry_run(args: argparse.Namespace) -> int:
    from alembic_safety.dryrun import dry_run_from_args

    return dry_run_from_args(args)


def _settings(args: argparse.Namespace, **extra: Any) -> tuple[Config | None, Settings]:
    """The Alembic config (when there is one) and the settings of a lint command."""
    from alembic_safety.config import load_settings, parse_x_options
    from alembic_safety.loading import load_config

    config = None
    if args.config or not args.paths:
        config = load_config(args.config, ini_section=args.name)
    elif Path("alembic.ini").is_file():
        config = load_config("alembic.ini", ini_section=args.name)
    overrides = {
        "format": args.format,
        "fail_on": args.fail_on,
        "target_version": args.target_version,
        "revision_range": args.revision_range,
        "select": _flatten(args.select),
        "ignore": _flatten(args.ignore),
        "strict": args.strict,
        "check_downgrade": args.check_downgrade,
        "color": args.color,
        "show_suppressed": args.show_suppressed,
        "verbose": args.verbose,
    }
    overrides.update(extra)
    settings = load_settings(config, x_options=parse_x_options(args.x), overrides=overrides)
    if (
        config is not None
        and not args.paths
        and config.get_alembic_option("script_location") is None
    ):
        raise UsageError(f"no script_location in {config.config_file_name or 'the Alembic config'}")
    if config is not None and args.x:
        config.cmd_opts = argparse.Namespace(x=list(args.x))  # env.py reads -x too
    return config, settings


def _rules(args: argparse.Namespace) -> int:
    from alembic_safety.docs import rule_rows, write_rule_docs

    if args.write_docs:
        written = write_rule_docs(Path(args.write_docs))
        print(f"wrote {len(written)} files to {args.write_docs}")
        return 0
    rows = rule_rows()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['code']}  {row['risk']:<8}  {row['name']:<40}  {row['summary']}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from alembic_safety.docs import rule_page
    from alembic_safety.rules import registry

    rule = registry.get(args.rule)
    if rule is None:
        raise UsageError(f"no rule {args.rule!r} (see `alembic-safety rules`)")
    print(rule_page(type(rule)))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": _check,
    "safety-check": _safety_check,
    "dry-run": _dry_run,
    "rules": _rules,
    "explain": _explain,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_guarded(lambda: _COMMANDS[args.command](args))
