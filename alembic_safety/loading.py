"""Find revision files, read their identity statically, import them tolerantly, order the history.

Alembic's own ``ScriptDirectory`` imports every revision while building its map and stops at the
first one that fails; a linter must instead analyse every file it can and say which it could
not. So revision identity (``revision``, ``down_revision`` ...) is read from the file's syntax
tree, the graph is built with Alembic's ``RevisionMap`` from those values, and each module is
executed separately from the same parsed tree, with stand-ins for application imports that fail.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import types
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import Revision, RevisionMap
from alembic.util import CommandError

from alembic_safety.analysis.standins import tolerant_imports
from alembic_safety.errors import UsageError
from alembic_safety.risk import Direction

__all__ = [
    "History",
    "RevisionScript",
    "discover_from_config",
    "discover_from_paths",
    "load_config",
    "load_history",
]

_IDENTITY_NAMES = ("revision", "down_revision", "branch_labels", "depends_on")


@dataclass
class RevisionScript:
    """One revision file: its identity, and its module once executed.

    Identity comes from the executed module, like Alembic's own; only a file that cannot be
    executed is parsed to recover it. The syntax tree (for statement spans) is built lazily,
    when a finding or a suppression needs it.
    """

    path: Path
    source: str
    revision: str | None = None
    down_revision: str | tuple[str, ...] | None = None
    branch_labels: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    doc: str | None = None
    error: str | None = None
    module: types.ModuleType | None = None
    #: Names replaced by stand-ins while importing, with why (shown in verbose output).
    stand_ins: dict[str, str] = field(default_factory=dict)
    _tree: ast.Module | None = field(default=None, repr=False)
    _statement_lines: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def down_revisions(self) -> tuple[str, ...]:
        if self.down_revision is None:
            return ()
        if isinstance(self.down_revision, str):
            return (self.down_revision,)
        return tuple(self.down_revision)

    def statement_line(self, line: int) -> int:
        """The first line of the innermost statement containing ``line`` (multi-line calls,
        ``with`` headers); the file is parsed on first use and only descended, never walked."""
        cached = self._statement_lines.get(line)
        if cached is not None:
            return cached
        start = _innermost_statement(self._syntax_tree().body, line) or line
        self._statement_lines[line] = start
        return start

    def direction_at(self, line: int) -> Direction:
        """``"downgrade"`` when ``line`` is inside the module's ``downgrade()``, else upgrade."""
        for node in self._syntax_tree().body:
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == "downgrade"
                and node.lineno <= line <= (node.end_lineno or node.lineno)
            ):
                return "downgrade"
        return "upgrade"

    def _syntax_tree(self) -> ast.Module:
        if self._tree is None:
            try:
                self._tree = ast.parse(self.source, filename=str(self.path))
            except SyntaxError:
                self._tree = ast.Module(body=[], type_ignores=[])
        return self._tree

    def set_identity(self, values: dict[str, Any]) -> None:
        revision = values.get("revision")
        down = values.get("down_revision")
        self.revision = str(revision) if revision is not None else None
        self.down_revision = tuple(down) if isinstance(down, (list, tuple)) else down
        self.branch_labels = _as_tuple(values.get("branch_labels"))
        self.depends_on = _as_tuple(values.get("depends_on"))


@dataclass
class History:
    """Revisions in upgrade order (base first), plus graph facts for history rules."""

    scripts: list[RevisionScript]
    heads: tuple[str, ...] = ()
    #: Why the graph could not be built (then ``scripts`` is in file order).
    graph_error: str | None = None
    search_paths: tuple[Path, ...] = ()
    #: Revision id → parent ids no file declares (expected when only some files are checked).
    missing_parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Only some files of the history were given (pre-commit): missing parents are expected.
    partial: bool = False
    #: Heads not on a branch declared with ``branch_labels`` (several of them: AS601).
    unlabelled_heads: tuple[str, ...] = ()


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(str(v) for v in value)
    return ()


_BODY_FIELDS = ("body", "orelse", "handlers", "finalbody", "cases")


def _innermost_statement(body: Sequence[ast.AST], line: int) -> int | None:
    """First line of the innermost statement in ``body`` whose span contains ``line``."""
    for node in body:
        start = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", None) or start
        if start is None or end is None or not start <= line <= end:
            continue
        for name in _BODY_FIELDS:
            inner = getattr(node, name, None)
            if isinstance(inner, list) and inner:
                found = _innermost_statement(inner, line)
                if found is not None:
                    return found
        return None if isinstance(node, (ast.ExceptHandler, ast.match_case)) else int(start)
    return None


def _static_identity(source: str, path: Path) -> dict[str, Any]:
    """``revision``, ``down_revision`` ... read from the syntax tree, without executing."""
    tree = ast.parse(source, filename=str(path))
    values: dict[str, Any] = {"__doc__": ast.get_docstring(tree)}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _IDENTITY_NAMES and value is not None:
                values[target.id] = _literal(value)
    return values


def read_script(path: Path) -> RevisionScript:
    """Read a revision file's source (execution comes later, with tolerant imports)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return RevisionScript(path=path, source="", error=f"cannot read: {exc}")
    return RevisionScript(path=path, source=source)


def looks_like_revision(script: RevisionScript) -> bool:
    """A Python file that declares ``revision = ...`` (helpers next to versions are skipped)."""
    return script.revision is not None


def _module_name(path: Path) -> str:
    digest = hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest()
    return f"alembic_safety_revision_{digest}"


def execute_module(script: RevisionScript, search_paths: Sequence[Path] = ()) -> None:
    """Execute the revision module (cached bytecode, like Alembic), tolerating failing imports.

    Sets the identity from the module; when the module cannot be executed, the identity is read
    from the syntax tree instead and ``error`` says why.
    """
    if script.module is not None or (script.error is not None and not script.source):
        return
    spec = importlib.util.spec_from_file_location(_module_name(script.path), script.path)
    if spec is None or spec.loader is None:
        script.error = "cannot import: not a Python source file"
        return
    module = importlib.util.module_from_spec(spec)
    try:
        with tolerant_imports(script.stand_ins.__setitem__, search_paths):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        script.error = f"syntax error line {exc.lineno}: {exc.msg}"
    except (Exception, SystemExit) as exc:
        script.error = f"cannot import: {type(exc).__name__}: {exc}"
    else:
        script.module = module
        script.set_identity(vars(module))
        script.doc = module.__doc__
        return
    try:
        values = _static_identity(script.source, script.path)
    except SyntaxError:
        return
    script.set_identity(values)
    script.doc = values.get("__doc__")


# -- discovery --------------------------------------------------------------------------------


def load_config(config_file: str | None, *, ini_section: str = "alembic") -> Config:
    """An Alembic Config from ``-c`` (alembic.ini or pyproject.toml) or the defaults in cwd.

    Mirrors the ``alembic`` command: ``alembic.ini`` and/or ``pyproject.toml`` (``[tool.alembic]``).
    """
    ini: str | None = None
    toml: str | None = None
    if config_file:
        if not Path(config_file).is_file():
            raise UsageError(f"config file not found: {config_file}")
        if Path(config_file).name == "pyproject.toml":
            toml = config_file
            sibling = Path(config_file).with_name("alembic.ini")
            ini = str(sibling) if sibling.is_file() else None
        else:
            ini = config_file
            sibling = Path(config_file).with_name("pyproject.toml")
            toml = str(sibling) if sibling.is_file() else None
    else:
        env_config = os.environ.get("ALEMBIC_CONFIG")
        ini = env_config if env_config and Path(env_config).is_file() else None
        if ini is None and Path("alembic.ini").is_file():
            ini = "alembic.ini"
        toml = "pyproject.toml" if Path("pyproject.toml").is_file() else None
    if ini is None and toml is None:
        raise UsageError(
            "no alembic.ini or pyproject.toml here: pass -c PATH, or revision files / directories"
        )
    return Config(file_=ini, toml_file=toml, ini_section=ini_section)


def discover_from_config(config: Config) -> tuple[list[Path], list[Path]]:
    """Revision files of the configured script directory, and paths helpers may import from."""
    try:
        script_dir = ScriptDirectory.from_config(config)
        locations = [Path(p) for p in script_dir._version_locations]
    except CommandError as exc:
        raise UsageError(f"alembic configuration: {exc}") from None
    files: list[Path] = []
    for location in locations:
        if not location.is_dir():
            continue
        if script_dir.recursive_version_locations:
            candidates = sorted(location.rglob("*.py"))
        else:
            candidates = sorted(location.glob("*.py"))
        files.extend(
            p for p in candidates if p.name != "__init__.py" and "__pycache__" not in p.parts
        )
    script_root = Path(script_dir.dir).absolute()
    search = [script_root, script_root.parent, *locations]
    if config.config_file_name:
        search.append(Path(config.config_file_name).absolute().parent)
    return files, search


def discover_from_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Revision files named directly or found in directories (pre-commit mode: no alembic.ini)."""
    files: list[Path] = []
    search: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(p for p in sorted(path.glob("*.py")) if p.name != "__init__.py")
            search.extend([path.absolute(), path.absolute().parent, path.absolute().parent.parent])
        elif path.is_file():
            files.append(path)
            search.extend([path.absolute().parent, path.absolute().parent.parent])
        else:
            raise UsageError(f"no such file or directory: {raw}")
    return files, search


def load_history(
    files: Sequence[Path], search_paths: Sequence[Path] = (), *, partial: bool = False
) -> History:
    """Read every file, keep the revisions, and order them base → heads with Alembic's RevisionMap.

    Files are deduplicated by real path. When the graph cannot be built (duplicate ids, a
    ``down_revision`` that names no file) the scripts stay in file order and the reason is kept.
    """
    seen: set[Path] = set()
    scripts: list[RevisionScript] = []
    for file in files:
        real = Path(os.path.realpath(file))
        if real in seen:
            continue
        seen.add(real)
        script = read_script(real)
        execute_module(script, search_paths)
        if looks_like_revision(script) or (script.error and _declares_revision(script.source)):
            scripts.append(script)
    history = History(
        scripts=scripts, search_paths=tuple(dict.fromkeys(search_paths)), partial=partial
    )
    _order(history)
    return history


def _declares_revision(source: str) -> bool:
    """A file that failed to load but assigns ``revision``: report it rather than skip it."""
    return any(line.lstrip().startswith("revision") for line in source.splitlines())


def missing_parents(scripts: Sequence[RevisionScript]) -> dict[str, tuple[str, ...]]:
    """Revision id → the ``down_revision``/``depends_on`` ids it names that no file declares."""
    known = {s.revision for s in scripts if s.revision is not None}
    labels = {label for s in scripts for label in s.branch_labels}

    def resolvable(dependency: str) -> bool:  # depends_on may name a label or an id prefix
        return dependency in labels or any(k.startswith(dependency) for k in known)

    missing: dict[str, tuple[str, ...]] = {}
    for script in scripts:
        if script.revision is None:
            continue
        absent = tuple(r for r in script.down_revisions if r not in known) + tuple(
            r for r in script.depends_on if r not in known and not resolvable(r)
        )
        if absent:
            missing[script.revision] = absent
    return missing


def revision_map(scripts: Sequence[RevisionScript]) -> RevisionMap:
    """Alembic's own graph over the statically read revisions.

    Parents no file declares are left out (the revision counts as a base): pre-commit passes
    only the changed files, and a broken reference is reported by a rule, not by a crash.
    """
    missing = missing_parents(scripts)

    def present(ids: tuple[str, ...], revision: str) -> tuple[str, ...] | None:
        kept = tuple(i for i in ids if i not in missing.get(revision, ()))
        return kept or None

    revisions = [
        Revision(
            s.revision,
            present(s.down_revisions, s.revision),
            dependencies=present(s.depends_on, s.revision),
            branch_labels=s.branch_labels or None,
        )
        for s in scripts
        if s.revision is not None
    ]
    return RevisionMap(lambda: iter(revisions))


def _order(history: History) -> None:
    by_id: dict[str, RevisionScript] = {}
    unordered: list[RevisionScript] = []  # no id, or an id another file already declares
    for script in history.scripts:
        first = by_id.setdefault(script.revision, script) if script.revision else None
        if first is script:
            continue
        unordered.append(script)
        if first is not None:
            # Alembic keeps one of them and warns; a report must not drop a file silently.
            script.error = (
                f"revision id {script.revision} is also declared by {first.path.name}: "
                "Alembic uses only one of them; give this file a new revision id"
            )
    history.missing_parents = missing_parents(history.scripts)
    rmap = revision_map(list(by_id.values()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Alembic warns on stderr; the report says it
            ordered = list(rmap.iterate_revisions("heads", "base"))
            history.heads = tuple(rmap.heads)
            # Alembic propagates branch labels down each branch, so a head knows its labels.
            history.unlabelled_heads = tuple(
                head
                for head in history.heads
                if not getattr(rmap.get_revision(head), "branch_labels", None)
            )
    except Exception as exc:  # alembic raises several error types for broken graphs
        history.graph_error = str(exc)
        return
    ordered.reverse()
    history.scripts = [by_id[r.revision] for r in ordered if r.revision in by_id] + unordered


def parse_revision_range(revision_range: str) -> tuple[str, str]:
    """``A:B`` as (lower, upper), Alembic's syntax: empty sides are base / heads."""
    if ":" not in revision_range:
        raise UsageError(f"revision range must look like A:B, got {revision_range!r}")
    lower, upper = (
        part.strip() or default
        for part, default in zip(revision_range.split(":", 1), ("base", "heads"), strict=True)
    )
    return lower, "heads" if upper == "head" else upper


def select_range(history: History, revision_range: str) -> list[RevisionScript]:
    """The scripts of ``A:B`` (Alembic's syntax; ``base``, ``head``/``heads``, partial ids)."""
    lower, upper = parse_revision_range(revision_range)
    rmap = revision_map(history.scripts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selected = rmap.iterate_revisions(
                upper, lower, inclusive=True, assert_relative_length=False
            )
            ids = {r.revision for r in selected}
    except Exception as exc:
        raise UsageError(f"revision range {revision_range!r}: {exc}") from None
    return [s for s in history.scripts if s.revision in ids]
