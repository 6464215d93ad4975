"""Property tests of the autogenerate rewriter: random models, random changes, the same proof.

Hypothesis draws a table ``items`` (integer primary key, a nullable ``parent_id`` and 1 to 4
columns of Integer, BigInteger, String(n), Text, Boolean, Numeric, DateTime, each nullable or
not, with or without a server default and an index) with random rows, and a random change set:
columns added (nullable; NOT NULL with a server default; NOT NULL without one, which the
harness backfills), indexes added and dropped, CHECK constraints added, a foreign key from
``parent_id`` to ``parents``, type changes, NOT NULL set or dropped on existing columns, columns
dropped. For each example
:func:`rewrite_proof.prove` asserts: the original and the rewritten chain end with the same
pg_catalog snapshot and the same rows, each rewritten revision downgrades to the snapshot before
it, and the linter finds nothing HIGH in non-contract revisions.

Not drawn: a type change of an indexed column (documented: the index goes with the old column
in the contract step and must be recreated on ``<col>_new`` by hand, docs/autogenerate.md),
NOT NULL set on a column holding NULLs (the original fails as well: no backfill is drawn for
it), and the drop of a NOT NULL column without a server default: the drop revision's downgrade
is autogenerate's reverse,
``add_column(..., nullable=False)``, which fails on any table with rows (a known gap, pinned by
the ``drop-not-null-column`` case of test_rewrite_proof.py).

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default) runs 10 derandomized examples, the same
ones on every run, in about 30 s; ``thorough`` runs 200 random ones and shrinks a failure to a
minimal example; ``explore`` runs 50 random ones without shrinking (fast to a first failure).
``ALEMBIC_SAFETY_PROOF_EXAMPLES=N`` sets the count of any profile, e.g.
``HYPOTHESIS_PROFILE=thorough ALEMBIC_SAFETY_PROOF_EXAMPLES=500 .venv/bin/python -m pytest
tests/test_rewrite_properties.py``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rewrite_proof import ProofCase, prove, reachable

pytestmark = pytest.mark.skipif(not reachable(), reason="no PostgreSQL test server")

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("ALEMBIC_SAFETY_PROOF_EXAMPLES", "10")),
    derandomize=True,
    **_COMMON,
)
settings.register_profile(
    "thorough",
    max_examples=int(os.environ.get("ALEMBIC_SAFETY_PROOF_EXAMPLES", "200")),
    **_COMMON,
)
settings.register_profile(  # exploring: random, no shrinking, the first failure shown as is
    "explore",
    max_examples=int(os.environ.get("ALEMBIC_SAFETY_PROOF_EXAMPLES", "50")),
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    **_COMMON,
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

KINDS = ("int", "bigint", "str", "text", "bool", "numeric", "datetime")
#: Every kind a column can have, drawn or changed to.
KIND_NAMES = frozenset(KINDS) | {"longstr", "widenumeric"}

#: Type changes drawn per kind: rewriting ones (int → bigint, int → numeric) and catalog-only
#: ones (varchar → text, a longer varchar, a wider numeric), which must stay as they are.
TYPE_CHANGES: dict[str, tuple[str, ...]] = {
    "int": ("bigint", "numeric"),
    "bigint": ("numeric",),
    "str": ("text", "longstr"),
    "numeric": ("widenumeric",),
}


def sa_type(kind: str) -> Any:
    return {
        "int": sa.Integer(),
        "bigint": sa.BigInteger(),
        "str": sa.String(20),
        "longstr": sa.String(40),
        "text": sa.Text(),
        "bool": sa.Boolean(),
        "numeric": sa.Numeric(10, 2),
        "widenumeric": sa.Numeric(14, 2),
        "datetime": sa.DateTime(),
    }[kind]


def server_default(kind: str) -> Any:
    """A constant default (the same value in both databases, whenever it is evaluated)."""
    if kind in ("str", "longstr", "text"):
        return "dflt"
    return sa.text(
        {"bool": "false", "datetime": "'2020-01-01 00:00:00'"}.get(kind.replace("wide", ""), "7")
    )


def backfill_sql(kind: str) -> str:
    """What the human fills a NOT NULL column added without a default with."""
    return {
        "int": "id * 3",
        "bigint": "id * 3",
        "str": "'v' || id",
        "text": "'v' || id",
        "bool": "(id % 2 = 0)",
        "numeric": "id / 4.0",
        "datetime": "TIMESTAMP '2021-01-01' + id * INTERVAL '1 hour'",
    }[kind]


def values(kind: str) -> st.SearchStrategy[Any]:
    return {
        "int": st.integers(-1000, 1000),
        "bigint": st.integers(-1000, 1000),
        "str": st.text("abcxyz' ", max_size=12),
        "text": st.text("abcxyz' \n", max_size=30),
        "bool": st.booleans(),
        "numeric": st.decimals(Decimal(-1000), Decimal(1000), places=2),
        "datetime": st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
            lambda d: d.replace(microsecond=0)
        ),
    }[kind]


#: CHECK constraints every drawn value satisfies (VALIDATE must pass on the rows).
CHECKS = {
    "int": "{c} > -100000",
    "bigint": "{c} > -100000",
    "str": "length({c}) < 1000",
    "text": "length({c}) < 1000",
    "bool": "{c} IN (true, false)",
    "numeric": "{c} > -100000",
    "datetime": "{c} > '1900-01-01'",
}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str
    nullable: bool
    default: bool
    index: bool

    def column(self, kind: str | None = None, nullable: bool | None = None) -> sa.Column[Any]:
        return sa.Column(
            self.name,
            sa_type(kind or self.kind),
            nullable=self.nullable if nullable is None else nullable,
            server_default=server_default(kind or self.kind) if self.default else None,
        )


@dataclass
class Scenario:
    columns: list[ColumnSpec]
    rows: list[dict[str, Any]]
    #: column name → "keep" | "index" (toggled) | "check" | "drop" | "nullable" (toggled) |
    #: a new kind.
    actions: dict[str, str] = field(default_factory=dict)
    added: list[ColumnSpec] = field(default_factory=list)
    foreign_key: bool = False

    def before(self) -> sa.MetaData:
        metadata = _base()
        sa.Table(
            "items",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer),
            *[c.column() for c in self.columns],
            *[sa.Index(f"ix_items_{c.name}", c.name) for c in self.columns if c.index],
        )
        return metadata

    def after(self) -> sa.MetaData:
        metadata = _base()
        items: list[sa.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer),
        ]
        for spec in self.columns:
            action = self.actions.get(spec.name, "keep")
            if action == "drop":
                continue
            nullable = (not spec.nullable) if action == "nullable" else None
            items.append(spec.column(action if action in KIND_NAMES else None, nullable))
            if spec.index != (action == "index"):  # "index" toggles
                items.append(sa.Index(f"ix_items_{spec.name}", spec.name))
            if action == "check":
                condition = CHECKS[spec.kind].format(c=spec.name)
                items.append(sa.CheckConstraint(condition, name=f"ck_items_{spec.name}"))
        items += [spec.column() for spec in self.added]
        if self.foreign_key:
            items.append(
                sa.ForeignKeyConstraint(["parent_id"], ["parents.id"], name="fk_items_parent")
            )
        sa.Table("items", metadata, *items)
        return metadata

    def downgrade_codes(self) -> frozenset[str]:
        """AS105 for the downgrade of a catalog-only widening (a narrowing that rewrites the
        table): the rewriter leaves the widening alone, and with it its reverse."""
        widening = {"text", "longstr", "widenumeric"} & set(self.actions.values())
        return frozenset({"AS105"}) if widening else frozenset()

    def backfills(self) -> dict[tuple[str, str], str]:
        return {
            ("items", spec.name): backfill_sql(spec.kind)
            for spec in self.added
            if not spec.nullable and not spec.default
        }


def _base() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("parents", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 4))
    columns = [
        ColumnSpec(
            name=f"c{i}",
            kind=draw(st.sampled_from(KINDS)),
            nullable=draw(st.booleans()),
            default=draw(st.booleans()),
            index=draw(st.booleans()),
        )
        for i in range(count)
    ]
    actions: dict[str, str] = {}
    for spec in columns:
        choices = ["keep", "index", "check", "nullable"]
        if spec.nullable or spec.default:  # see the module docstring
            choices.append("drop")
        if not spec.index:  # an index would go with the old column (see the docstring)
            choices += list(TYPE_CHANGES.get(spec.kind, ()))
        actions[spec.name] = draw(st.sampled_from(choices))
    rows = []
    for key in range(1, draw(st.integers(0, 12)) + 1):
        row: dict[str, Any] = {"id": key, "parent_id": draw(st.none() | st.integers(1, 3))}
        for spec in columns:
            base = values(spec.kind)
            # NULLs only where the column stays nullable: SET NOT NULL must find none
            nulls = spec.nullable and actions[spec.name] != "nullable"
            row[spec.name] = draw(st.none() | base if nulls else base)
        rows.append(row)
    added = [
        ColumnSpec(
            name=f"a{i}",
            kind=draw(st.sampled_from(KINDS)),
            nullable=draw(st.booleans()),
            default=draw(st.booleans()),
            index=False,
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    return Scenario(columns, rows, actions, added, draw(st.booleans()))


PARENTS = [{"id": i} for i in range(1, 4)]


@PROFILE
@given(scenario=scenarios())
def test_random_model_changes_keep_schema_and_data(scenario: Scenario) -> None:
    case = ProofCase(
        id="random",
        before=scenario.before(),
        after=scenario.after(),
        rows={"parents": PARENTS, "items": scenario.rows},
        backfills=scenario.backfills(),
        settings={"backfill_batch_size": "3"},  # up to 12 rows: several batches
        downgrade_codes=scenario.downgrade_codes(),
    )
    with tempfile.TemporaryDirectory(prefix="alembic_safety_property_") as root:
        result = prove(case, Path(root))
        assert result.rewritten, "autogenerate wrote no revision"
        expand = result.text("expand")  # the files live as long as the directory
    for name, action in scenario.actions.items():
        if action in ("bigint", "numeric"):  # rewriting: through a shadow column
            assert f"{name}_new" in expand, expand
