"""Inline suppression: ``# alembic-safety: ignore[AS101] reason`` in a revision file.

The comment applies to the statement it is written on, or to the statement that follows it when
it stands on a line of its own. A reason is required (a suppression without one does not take
effect and is reported), and a suppression that matches no finding is reported too, so stale
suppressions do not hide future dangers.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Suppression", "parse_suppressions"]

_PATTERN = re.compile(
    r"#\s*alembic-safety\s*:\s*ignore\s*\[\s*(?P<codes>[A-Za-z0-9_,\s-]+?)\s*\]\s*(?P<reason>.*)$"
)


@dataclass
class Suppression:
    """One suppression comment and the statement it targets."""

    line: int
    codes: tuple[str, ...]
    reason: str
    #: First line of the statement this comment applies to.
    target_line: int
    used: set[str] = field(default_factory=set)

    def matches(self, code: str, name: str) -> bool:
        return any(c in (code.upper(), name.lower()) or c == "ALL" for c in self.codes)


def parse_suppressions(source: str, statement_line: Callable[[int], int]) -> list[Suppression]:
    """Find suppression comments with tokenize (so strings that look like comments are ignored)."""
    found: list[Suppression] = []
    if "alembic-safety" not in source:
        return found  # the common case: no need to tokenize the file
    code_lines: set[int] = set()
    comments: list[tuple[int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments.append((token.start[0], token.string))
            elif token.type not in (
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            ):
                code_lines.add(token.start[0])
    except (tokenize.TokenError, SyntaxError):
        return found
    for line, text in comments:
        match = _PATTERN.search(text)
        if not match:
            continue
        codes = tuple(
            c.strip().upper()
            if c.strip().upper().startswith("AS") or c.strip().upper() == "ALL"
            else c.strip().lower()
            for c in match.group("codes").split(",")
            if c.strip()
        )
        if line in code_lines:
            target = statement_line(line)
        else:
            following = min((n for n in code_lines if n > line), default=line + 1)
            target = statement_line(following)
        found.append(Suppression(line, codes, match.group("reason").strip(), target))
    return found
