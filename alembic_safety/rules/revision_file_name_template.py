"""AS605 revision-file-name-template."""

from __future__ import annotations

import ast
import datetime
import re
from collections.abc import Iterator
from pathlib import PurePath

from alembic_safety.risk import Risk
from alembic_safety.rules.base import RevisionContext, Rule, Violation, registry

#: A ``%(name)spec`` token of a file_template (Python %-formatting, as Alembic applies it).
_TOKEN = re.compile(
    r"%\((?P<name>\w+)\)(?P<flags>[-#0 +]*)(?P<width>\d+)?(?:\.(?P<precision>\d+))?"
    r"(?P<type>[diouxXeEfFgGs])"
)
_DATE_PARTS = frozenset({"year", "month", "day", "hour", "minute", "second"})
_REVISION_LINE = re.compile(r"^revision\s*(?::[^=\n]*)?=", re.MULTILINE)
_CREATE_DATE = re.compile(r"^Create Date:\s*(?P<date>\S.*?)\s*$", re.MULTILINE)
_SLUG_WORD = re.compile(r"\w+")
#: Alembic's default ``truncate_slug_length``.
_SLUG_LENGTH = 40


def normalise(template: str) -> str:
    """The template as Alembic formats it (``%%`` in an ini file is ``%`` after interpolation)."""
    return template.replace("%%", "%")


def template_regex(template: str, revision: str | None) -> re.Pattern[str]:
    """A regex a file name (without ``.py``) made from ``template`` matches."""
    parts: list[str] = []
    position = 0
    for token in _TOKEN.finditer(template):
        parts.append(re.escape(template[position : token.start()]))
        position = token.end()
        name = token.group("name")
        if name == "rev":
            parts.append(re.escape(revision) if revision else r"[^/]+?")
        elif name == "slug":
            parts.append(r"\w*")
        elif name == "epoch":
            parts.append(r"\d+")
        elif name in _DATE_PARTS:
            digits = max(int(token.group("width") or 0), int(token.group("precision") or 0))
            padded = "0" in token.group("flags") or token.group("precision") is not None
            if digits and padded:
                parts.append(rf"\d{{{digits},}}")
            elif digits:
                parts.append(r" *\d+")
            else:
                parts.append(r"\d+")
        else:
            parts.append(r".*?")
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


def _docstring(source: str) -> str | None:
    try:
        return ast.get_docstring(ast.parse(source))
    except SyntaxError:
        return None


def expected_name(template: str, revision: str, source: str) -> str | None:
    """The file name Alembic would have written (from the docstring's message and Create
    Date), or None when the docstring does not tell."""
    doc = _docstring(source)
    if not doc:
        return None
    match = _CREATE_DATE.search(doc)
    if match is None:
        return None
    try:
        created = datetime.datetime.fromisoformat(match.group("date"))
    except ValueError:
        return None
    message = doc.splitlines()[0]
    slug = "_".join(_SLUG_WORD.findall(message)).lower()
    if len(slug) > _SLUG_LENGTH:
        slug = slug[:_SLUG_LENGTH].rsplit("_", 1)[0] + "_"
    values = {
        "rev": revision,
        "slug": slug,
        "epoch": int(created.timestamp()),
        "year": created.year,
        "month": created.month,
        "day": created.day,
        "hour": created.hour,
        "minute": created.minute,
        "second": created.second,
    }
    try:
        return f"{template % values}.py"
    except (KeyError, ValueError, TypeError):
        return None


def _revision_line(source: str) -> int | None:
    match = _REVISION_LINE.search(source)
    return source.count("\n", 0, match.start()) + 1 if match else None


@registry.register
class RevisionFileNameTemplate(Rule):
    """The revision file's name does not follow the configured `file_template`.

    ## What it does
    When the Alembic configuration sets `file_template` (for example
    `%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s`), reports
    revision files whose name does not match it, and files whose name lacks their revision id
    when the template contains `%%(rev)s`. Only an explicitly configured template is checked:
    without one, Alembic's default `%%(rev)s_%%(slug)s` is a default, not a convention the
    project chose. The comparison covers as many trailing path parts as the template has
    (`/` in a template names sub-directories).

    ## Why is this bad?
    A team sets a template so that files sort by date and can be found by revision id; a file
    renamed or written by hand breaks both, and a file whose name shows another revision id
    (copied from an older revision) points reviewers at the wrong migration.

    ## Example
    ```
    file_template = %%(year)d_%%(month).2d_%%(day).2d-%%(rev)s_%%(slug)s
    migrations/versions/add_status.py         # revision = "3f1c9a2b7d10"
    ```

    ## Use instead
    ```
    git mv migrations/versions/add_status.py \\
        migrations/versions/2024_05_02-3f1c9a2b7d10_add_status.py
    ```

    ## Fix safety
    No automatic fix: renaming a file is a change for the author to make.
    """

    code = "AS605"
    name = "revision-file-name-template"
    risk = Risk.LOW

    def check_revision(self, revision: RevisionContext) -> Iterator[Violation]:
        if not revision.file_template or not revision.path or not revision.revision:
            return
        template = normalise(revision.file_template)
        depth = template.count("/") + 1
        path = PurePath(revision.path)
        if path.suffix != ".py":
            return
        name = "/".join((*path.parent.parts, path.stem)[-depth:])
        expected = expected_name(template, revision.revision, revision.source)
        rename = (
            f"git mv {revision.path} {path.parent / PurePath(expected).name}"
            if expected and depth == 1
            else f"# rename the file to match {template}.py"
        )
        line = _revision_line(revision.source)
        if "%(rev)" in template and revision.revision not in name:
            yield Violation(
                message=f'file name "{path.name}" does not contain its revision id '
                f'"{revision.revision}" (file_template: {template})',
                help=rename,
                line=line,
            )
        elif not template_regex(template, revision.revision).fullmatch(name):
            yield Violation(
                message=f'file name "{path.name}" does not follow the configured file_template '
                f"{template}" + (f' (expected "{PurePath(expected).name}")' if expected else ""),
                help=rename,
                line=line,
            )
