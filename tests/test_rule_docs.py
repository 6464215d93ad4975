"""Rule documentation: structure, codes and names, the generated pages, and true examples.

A rule's docstring is its documentation (docs/rules/ is generated from it), so it is tested like
code: the sections exist and are Markdown headings, codes and names follow the conventions, the
committed pages equal what the registry renders, and the "Example" of each rule really triggers
the rule while its "Use instead" really does not (both are run as a revision's upgrade()).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from alembic_safety.docs import render_rule_docs
from alembic_safety.risk import DEFAULT_TARGET_VERSION, assess_revision
from alembic_safety.rules import registry
from alembic_safety.rules.base import Rule

DOCS_RULES = Path(__file__).resolve().parent.parent / "docs" / "rules"

SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")
FAMILIES = frozenset("12345679")
RULES: list[Rule] = list(registry)


def by_code(bugs: dict[str, str] | None = None) -> list[Any]:
    bugs = bugs or {}
    return [
        pytest.param(
            rule,
            id=rule.code,
            marks=pytest.mark.xfail(strict=True, reason=f"BUG: {bugs[rule.code]}")
            if rule.code in bugs
            else (),
        )
        for rule in RULES
    ]


def section(doc: str, name: str) -> str:
    """The text under ``## name`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert match is not None, f"no section {name!r}"
    return match.group(1)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


# -- structure --------------------------------------------------------------------------------


def test_registry_is_not_empty() -> None:
    assert len(RULES) == len(registry) >= 20


@pytest.mark.parametrize("rule", by_code())
def test_docstring_has_every_section_in_order(rule: Rule) -> None:
    doc = rule.__doc__ or ""
    positions = [doc.find(f"## {name}") for name in SECTIONS]
    assert all(p >= 0 for p in positions), dict(zip(SECTIONS, positions, strict=True))
    assert positions == sorted(positions)


@pytest.mark.parametrize("rule", by_code())
def test_summary_is_one_sentence(rule: Rule) -> None:
    summary = rule.summary()
    assert summary
    assert not summary.startswith("#")
    assert summary.endswith((".", ")"))


@pytest.mark.parametrize("rule", by_code())
def test_sections_are_markdown_headings_in_the_documentation(rule: Rule) -> None:
    lines = rule.documentation().splitlines()
    for name in SECTIONS:
        assert f"## {name}" in lines, f"'## {name}' is not a heading line"


# -- codes and names ------------------------------------------------------------------------


@pytest.mark.parametrize("rule", by_code())
def test_code_and_family(rule: Rule) -> None:
    assert re.fullmatch(r"AS\d{3}", rule.code)
    assert rule.code[2] in FAMILIES


@pytest.mark.parametrize("rule", by_code())
def test_name_is_kebab_case(rule: Rule) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)


def test_codes_and_names_are_unique() -> None:
    codes = [rule.code for rule in RULES]
    names = [rule.name for rule in RULES]
    assert len(codes) == len(set(codes))
    assert len(names) == len(set(names))


def test_registry_lookup_by_code_and_name() -> None:
    for rule in RULES:
        assert registry.get(rule.code) is rule
        assert registry.get(rule.code.lower()) is rule
        assert registry.get(rule.name) is rule
        assert registry.get(f" {rule.name.upper()} ") is rule


# -- the generated pages ----------------------------------------------------------------------


def test_generated_pages_cover_every_rule() -> None:
    pages = render_rule_docs()
    assert set(pages) == {"index.md"} | {f"{rule.code}.md" for rule in RULES}
    index = pages["index.md"]
    for rule in RULES:
        assert f"[{rule.code}]({rule.code}.md)" in index
        page = pages[f"{rule.code}.md"]
        assert page.splitlines()[2] == f"# {rule.code} {rule.name}"
        assert f"ignore[{rule.code}]" in page


@pytest.mark.skipif(not DOCS_RULES.is_dir(), reason="docs/rules not generated yet")
def test_committed_pages_are_up_to_date() -> None:
    pages = render_rule_docs()
    committed = {
        path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS_RULES.glob("*.md"))
    }
    assert sorted(committed) == sorted(pages), "stale or missing pages: regenerate docs/rules"
    stale = [name for name, text in pages.items() if committed[name] != text]
    assert not stale, f"regenerate with `alembic-safety rules --write-docs docs/rules`: {stale}"


# -- examples are true --------------------------------------------------------------------------

REVISION = '''\
"""docs example of {code}

Revision ID: {rev}
Revises:
Create Date: 2024-01-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "{rev}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


def target_version_of(rule: Rule) -> int:
    """A PostgreSQL major the rule applies to (the default one when it applies there)."""
    for version in (DEFAULT_TARGET_VERSION, rule.max_version, rule.min_version):
        if version is not None and rule.applies_to_version(version):
            return version
    raise AssertionError(f"{rule.code} applies to no version")


def findings_of_block(tmp_path: Path, rule: Rule, block: str) -> list[str]:
    """Active finding codes of a revision whose upgrade() is ``block``."""
    rev = f"doc{rule.code.lower()}"
    path = tmp_path / f"{rev}_example.py"
    body = textwrap.indent(block.strip("\n"), "    ")
    path.write_text(REVISION.format(code=rule.code, rev=rev, body=body), encoding="utf-8")
    report = assess_revision(path, target_version=target_version_of(rule))
    assert report.error is None, report.error
    return sorted(f.code for f in report.active_findings)


def doc_of(rule: Rule) -> str:
    return inspect.cleandoc(rule.__doc__ or "")


#: The rules whose examples are run here: the catalogue this pass was written against. Rules
#: added since are documented the same way (the structure tests above cover all rules) and
#: belong in this set once they are finished; their own test modules exercise them meanwhile.
EXAMPLE_SCOPE = frozenset(
    {
        *(f"AS{n}" for n in range(101, 113)),
        *("AS201", "AS202", "AS301", "AS302", "AS303", "AS304", "AS401", "AS501", "AS502"),
        *("AS601", "AS901", "AS902", "AS903", "AS904"),
    }
)

SCOPED = [rule for rule in RULES if rule.code in EXAMPLE_SCOPE]
RULES_WITH_EXAMPLE = [rule for rule in SCOPED if python_blocks(section(doc_of(rule), "Example"))]
RULES_WITH_FIX = [rule for rule in SCOPED if python_blocks(section(doc_of(rule), "Use instead"))]


def test_example_scope_is_registered() -> None:
    assert {rule.code for rule in RULES} >= EXAMPLE_SCOPE


def test_rules_without_python_example() -> None:
    # AS601 is about the history (two heads), not about code in a revision.
    without = {rule.code for rule in SCOPED} - {rule.code for rule in RULES_WITH_EXAMPLE}
    assert without == {"AS601"}


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.code) for r in RULES_WITH_EXAMPLE])
def test_example_triggers_the_rule(tmp_path: Path, rule: Rule) -> None:
    (block,) = python_blocks(section(doc_of(rule), "Example"))
    assert rule.code in findings_of_block(tmp_path, rule, block)


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.code) for r in RULES_WITH_FIX])
def test_use_instead_does_not_trigger_the_rule(tmp_path: Path, rule: Rule) -> None:
    blocks = python_blocks(section(doc_of(rule), "Use instead"))
    for block in blocks:
        assert rule.code not in findings_of_block(tmp_path, rule, block), block
