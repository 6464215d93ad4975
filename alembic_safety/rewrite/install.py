"""Turning the rewriter on: at run time (plugin list, ``alembic-safety revision``) and in env.py.

At run time. Alembic's ``RevisionContext._run_environment`` runs autogenerate's comparators,
then a command-level hook (``command.revision(process_revision_directives=...)``), and only then
reads the env.py hook from ``migration_context.opts["process_revision_directives"]``. Both the
plugin's comparator and the command-level hook of ``alembic-safety revision`` therefore call
:func:`install_hook`, which replaces that option with ``compose(the env.py hook)``: the user's
hook runs first and ours last, whichever way the rewriter was enabled, and once per migration
context however many ways it was. ``alembic check`` is left alone: it reports autogenerate's
diff as Alembic computes it.

In env.py (``alembic-safety init``). :func:`enable_in_source` finds every ``context.configure(``
call with :mod:`ast` and edits the text at the positions the tree gives, so comments and
formatting stay: it adds the ``process_revision_directives=`` keyword, or wraps an existing hook
in ``compose()``, and adds ``import alembic_safety.rewrite`` after the last top-level import.
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeGuard

from alembic_safety.errors import UsageError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.operations import ops
    from alembic.runtime.migration import MigrationContext

__all__ = [
    "HOOK",
    "IMPORT",
    "EnvPyEdit",
    "command_hook",
    "enable_in_project",
    "enable_in_source",
    "env_py_path",
    "inside_alembic_check",
    "install_hook",
]

#: The hook as env.py names it, and the import that makes the name work.
HOOK = "alembic_safety.rewrite.process_revision_directives"
COMPOSE = "alembic_safety.rewrite.compose"
IMPORT = "import alembic_safety.rewrite"
_KEYWORD = "process_revision_directives"

#: Set in a migration context's options once our hook is in place (once per context).
_INSTALLED = "alembic_safety_rewriter_installed"


# -- at run time ---------------------------------------------------------------------------------


def install_hook(context: MigrationContext) -> bool:
    """Make the context's ``process_revision_directives`` our hook composed after the user's.

    Only while a revision is being generated (the context carries Alembic's
    ``revision_context``), never under ``alembic check``, and once per context. True when it
    installed the hook now.
    """
    opts = context.opts
    if opts.get(_INSTALLED) or "revision_context" not in opts or inside_alembic_check():
        return False
    from alembic_safety.rewrite import compose, process_revision_directives

    opts[_INSTALLED] = True
    current = opts.get(_KEYWORD)
    if current is not process_revision_directives:  # env.py already names ours: nothing to add
        opts[_KEYWORD] = compose(current)
    return True


def command_hook(
    context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
) -> None:
    """The command-level hook of ``alembic-safety revision``.

    Alembic calls it before the env.py hook, so instead of rewriting now (the user's hook would
    then see rewritten output, and add unrewritten ops after us) it installs our hook behind
    theirs.
    """
    install_hook(context)


def inside_alembic_check() -> bool:
    """True when called (at any depth) from ``alembic.command.check``.

    ``alembic check`` runs autogenerate and the hooks like ``alembic revision`` does, then
    reports the diff of the *last* script; a chained follow-up there would change what it says.
    """
    from alembic import command

    check_code = command.check.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is check_code:
            return True
        frame = frame.f_back
    return False


# -- in env.py -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvPyEdit:
    """What ``alembic-safety init`` did (or would do) to one env.py."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the change (empty when there is none)."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path.name}",
                tofile=f"b/{self.path.name}",
            )
        )


def env_py_path(config: Config) -> Path:
    """The project's env.py, from ``script_location``; a one-line error when there is none."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if config.get_alembic_option("script_location") is None:
        where = config.config_file_name or config.toml_file_name or "the Alembic config"
        raise UsageError(f"no script_location in {where} (is this an Alembic project?)")
    try:
        script_directory = ScriptDirectory.from_config(config)
    except CommandError as exc:
        raise UsageError(f"alembic configuration: {exc}") from None
    path = Path(script_directory.env_py_location)
    if not path.is_file():
        raise UsageError(f"no env.py at {path}")
    return path


def enable_in_project(config: Config, *, write: bool = True) -> EnvPyEdit:
    """Enable the rewriter in the project's env.py; writes atomically unless ``write`` is off."""
    path = env_py_path(config)
    before = path.read_bytes().decode("utf-8")
    edit = EnvPyEdit(path, before, enable_in_source(before, str(path)))
    if write and edit.changed:
        _write_atomically(path, edit.after)
    return edit


def enable_in_source(source: str, filename: str = "env.py") -> str:
    """``source`` with the hook in every ``context.configure(...)`` call and the import added.

    Unchanged when every call has it already. Raises :class:`UsageError` when the source does
    not parse or has no ``context.configure(`` call.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise UsageError(f"cannot parse {filename}: {exc.msg} (line {exc.lineno})") from None
    calls = [node for node in ast.walk(tree) if _is_configure_call(node)]
    if not calls:
        raise UsageError(
            f"no context.configure(...) call in {filename}: add "
            f"process_revision_directives={HOOK} to it by hand"
        )
    text = _Text(source)
    ours = _names_imported_from_rewrite(tree)
    edits: list[tuple[int, int, str]] = []
    for call in calls:
        edits += _configure_edits(text, call, ours)
    if not edits:
        return source
    if not _imports_rewrite_package(tree):
        edits.append(_import_edit(text, tree))
    result = source
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        result = result[:start] + replacement + result[end:]
    return result


class _Text:
    """Character offsets of the (line, UTF-8 byte column) positions the AST reports."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.newline = "\r\n" if "\r\n" in source else "\n"

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    def start(self, node: ast.expr | ast.keyword | ast.stmt) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: ast.expr | ast.keyword | ast.stmt) -> int:
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        return self.offset(node.end_lineno, node.end_col_offset)

    def end_of_line(self, offset: int) -> int:
        """The offset of the line break ending the line of ``offset`` (before a ``\\r``)."""
        end = self.source.find("\n", offset)
        if end < 0:
            return len(self.source)
        return end - 1 if end > 0 and self.source[end - 1] == "\r" else end

    def indentation(self, offset: int) -> str:
        line_start = self.source.rfind("\n", 0, offset) + 1
        line = self.source[line_start:offset]
        return line[: len(line) - len(line.lstrip())]


def _is_configure_call(node: ast.AST) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "configure"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "context"
    )


def _names_imported_from_rewrite(tree: ast.Module) -> dict[str, str]:
    """Local names bound by ``from alembic_safety.rewrite import ...``, to what they are."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic_safety.rewrite":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
    return names


def _is_ours(value: ast.expr, ours: dict[str, str]) -> bool:
    """True when a hook expression already is our hook or ``compose(...)``."""
    target = value.func if isinstance(value, ast.Call) else value
    wanted = "compose" if isinstance(value, ast.Call) else "process_revision_directives"
    if isinstance(target, ast.Name):
        return ours.get(target.id) == wanted
    return ast.unparse(target) == f"alembic_safety.rewrite.{wanted}"


def _configure_edits(
    text: _Text, call: ast.Call, ours: dict[str, str]
) -> list[tuple[int, int, str]]:
    """The text edits that put our hook into one ``context.configure(...)`` call."""
    existing = next((k for k in call.keywords if k.arg == _KEYWORD), None)
    if existing is not None:
        if _is_ours(existing.value, ours):
            return []
        start, end = text.start(existing.value), text.end(existing.value)
        return [(start, end, f"{COMPOSE}({text.source[start:end]})")]
    keyword = f"{_KEYWORD}={HOOK}"
    arguments: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    close = text.end(call) - 1  # the closing parenthesis
    if not arguments:
        return [(close, close, keyword)]
    last_end = max(text.end(node) for node in arguments)
    comma = _trailing_comma(text.source, last_end, close)
    last_line = text.source.count("\n", 0, last_end)
    close_line = text.source.count("\n", 0, close)
    if last_line == close_line:  # `...last)`: stay on the line
        if comma is None:
            return [(last_end, last_end, f", {keyword}")]
        return [(comma + 1, comma + 1, f" {keyword}")]
    # One argument per line: a new line like the last one, after any comment on that line.
    last_start = min(text.start(node) for node in arguments if text.end(node) == last_end)
    line_end = text.end_of_line(comma if comma is not None else last_end)
    new_line = f"{text.newline}{text.indentation(last_start)}{keyword},"
    edits = [(line_end, line_end, new_line)]
    if comma is None:
        edits.append((last_end, last_end, ","))
    return edits


def _trailing_comma(source: str, start: int, close: int) -> int | None:
    """The offset of a comma between the last argument and ``)``, skipping comments."""
    position = start
    while position < close:
        char = source[position]
        if char == ",":
            return position
        if char == "#":
            position = source.find("\n", position)
            if position < 0:
                return None
        position += 1
    return None


def _imports_rewrite_package(tree: ast.Module) -> bool:
    """True when a top-level ``import alembic_safety.rewrite[.x]`` binds the qualified name."""
    return any(
        isinstance(node, ast.Import)
        and any(
            alias.asname is None
            and (
                alias.name == "alembic_safety.rewrite"
                or alias.name.startswith("alembic_safety.rewrite.")
            )
            for alias in node.names
        )
        for node in tree.body
    )


def _import_edit(text: _Text, tree: ast.Module) -> tuple[int, int, str]:
    """Insert the import after the last top-level import (or the docstring, or at the top)."""
    anchors: list[ast.stmt] = [
        node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    if not anchors and tree.body and _is_docstring(tree.body[0]):
        anchors = [tree.body[0]]
    if not anchors:
        return (0, 0, f"{IMPORT}{text.newline}")
    position = text.end_of_line(text.end(anchors[-1]))
    return (position, position, f"{text.newline}{IMPORT}")


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _write_atomically(path: Path, content: str) -> None:
    """Write through a temporary file in the same directory and ``os.replace`` (keeps the mode)."""
    mode = path.stat().st_mode & 0o7777
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content.encode("utf-8"))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
