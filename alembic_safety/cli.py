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
    _add_rewriter_commands(commands)
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        help="alembic.ini or pyproject.toml "
        "(default: $ALEMBIC_CONFIG, ./alembic.ini, ./pyproject.toml)",
    )
    parser.add_argument("-n", "--name", default="alembic", help="ini section of the Alembic config")


def _add_rewriter_commands(commands: Any) -> None:
    """``revision`` (Alembic's, with the rewriter) and ``init`` (enable it in env.py)."""
    revision = commands.add_parser(
        "revision",
        help="alembic revision with the safe autogenerate rewriter (no env.py change needed)",
        description="Create a new revision file, as `alembic revision` does, with the "
        "autogenerate rewriter enabled (after any process_revision_directives hook of env.py). "
        "Prints each file written with its phase and risk level.",
    )
    _add_config_arguments(revision)
    revision.add_argument(
        "-x", action="append", metavar="KEY=VALUE", help="passed to env.py, as with alembic -x"
    )
    revision.add_argument("-m", "--message", help="message string to use with the revision")
    revision.add_argument(
        "--autogenerate",
        action="store_true",
        help="compare the models with the database and write the (safe) operations",
    )
    revision.add_argument(
        "--sql",
        action="store_true",
        help="run env.py offline (needs revision_environment; not with --autogenerate)",
    )
    revision.add_argument(
        "--head", default="head", help="head revision or <branchname>@head to base it on"
    )
    revision.add_argument(
        "--splice", action="store_true", help="allow a non-head revision as the head"
    )
    revision.add_argument("--branch-label", help="branch label to apply to the new revision")
    revision.add_argument("--version-path", help="versions directory (from the config) to use")
    revision.add_argument("--rev-id", help="hardcoded revision id instead of a generated one")
    revision.add_argument(
        "--depends-on",
        action="append",
        metavar="REV",
        help="revision this one depends on (repeatable)",
    )
    init = commands.add_parser(
        "init",
        help="enable the autogenerate rewriter in the project's env.py",
        description="Add process_revision_directives=alembic_safety.rewrite."
        "process_revision_directives to every context.configure(...) call of env.py (composing "
        "an existing hook, which keeps running first) and the import it needs; shows the diff.",
    )
    _add_config_arguments(init)
    init.add_argument(
        "--dry-run",
        "--diff",
        dest="dry_run",
        action="store_true",
        help="show the diff without writing env.py",
    )


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


def _revision(args: argparse.Namespace) -> int:
    """``alembic.command.revision`` with our command-level hook; one line per file written."""
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from alembic_safety.loading import load_config
    from alembic_safety.rewrite.install import command_hook, env_py_path

    config = load_config(args.config, ini_section=args.name)
    # Alembic's own "Generating ..." lines are replaced by ours, which add phase and risk (set
    # before anything reads the memoized messaging options).
    config.cmd_opts = argparse.Namespace(x=list(args.x or []), quiet=True)
    env_py_path(config)  # a project without script_location or env.py: one-line error
    try:
        written = command.revision(
            config,
            message=args.message,
            autogenerate=args.autogenerate,
            sql=args.sql,
            head=args.head,
            splice=args.splice,
            branch_label=args.branch_label,
            version_path=args.version_path,
            rev_id=args.rev_id,
            depends_on=args.depends_on,
            process_revision_directives=command_hook,
        )
    except CommandError as exc:
        raise UsageError(_first_line(exc)) from None
    except SQLAlchemyError as exc:  # e.g. no database server: what the driver said
        raise UsageError(f"database: {_first_line(getattr(exc, 'orig', None) or exc)}") from None
    scripts = written if isinstance(written, list) else [written]
    for script in scripts:
        if script is not None:
            print(_describe_written(Path(script.path)))
    return 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _describe_written(path: Path) -> str:
    """``path: phase P, risk R`` from the risk header the rewriter put into the file."""
    import re

    text = path.read_text(encoding="utf-8")
    phase = re.search(r"^Phase: (\S+)$", text, re.MULTILINE)
    risk = re.search(r"^Risk Level: (\S+)$", text, re.MULTILINE)
    shown = _shown(path)
    if phase is None or risk is None:  # without --autogenerate, env.py may not run at all
        return f"{shown}: no risk header (env.py did not run)"
    return f"{shown}: phase {phase.group(1)}, risk {risk.group(1)}"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (as users typed it)."""
    absolute = path.absolute()
    return os.path.relpath(absolute) if absolute.is_relative_to(Path.cwd()) else str(path)


def _init(args: argparse.Namespace) -> int:
    """Enable the rewriter in env.py; print the diff (and do not write with ``--dry-run``)."""
    from alembic_safety.loading import load_config
    from alembic_safety.rewrite.install import enable_in_project

    config = load_config(args.config, ini_section=args.name)
    edit = enable_in_project(config, write=not args.dry_run)
    if not edit.changed:
        print(f"the autogenerate rewriter is already enabled in {_shown(edit.path)}")
        return 0
    sys.stdout.write(edit.diff())
    if args.dry_run:
        print(f"dry run: {_shown(edit.path)} not changed")
    else:
        print(f"enabled the autogenerate rewriter in {_shown(edit.path)}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": _check,
    "safety-check": _safety_check,
    "dry-run": _dry_run,
    "rules": _rules,
    "explain": _explain,
    "revision": _revision,
    "init": _init,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_guarded(lambda: _COMMANDS[args.command](args))
