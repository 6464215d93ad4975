"""What a rule is, what it may know, and the registry that dispatches operations to rules.

A rule is a class in its own module: a permanent code, a kebab-case name, a default risk, the lock
it takes and whether it rewrites the table (as data, verified against a real server by the test
suite), and a docstring that is its documentation. Rules declare the operation classes they look
at; the registry dispatches each recorded operation on its class (Alembic's convention), never
through an ``isinstance`` ladder.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from alembic.operations import ops
from alembic.operations.ops import MigrateOperation

from alembic_safety.risk import Direction, Risk

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from alembic_safety.analysis.recorder import OpRecord, Recording

__all__ = [
    "RevisionContext",
    "Rule",
    "RuleContext",
    "SchemaFacts",
    "Verification",
    "Violation",
    "registry",
]

_CODE = re.compile(r"^AS\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Violation:
    """What a rule reports; the engine adds code, risk, lines and suppression to make a Finding."""

    message: str
    help: str = ""
    table: str | None = None
    #: Overrides the rule's default risk for this case (e.g. lower when provably safe-ish).
    risk: Risk | None = None
    #: For revision-level rules: the operation the finding points at (its lines, direction).
    record: OpRecord | None = None
    #: For revision-level rules without an operation: the direction and file line, if any.
    direction: Direction = "upgrade"
    line: int | None = None


@dataclass(frozen=True)
class Verification:
    """A statement that exhibits the rule's lock/rewrite claim on a real PostgreSQL server.

    ``setup`` creates the table ``t`` (and others) it needs; the test suite runs ``statement``
    inside a transaction and compares ``pg_locks`` and ``pg_class.relfilenode`` to the rule's
    ``lock`` and ``rewrites``.
    """

    statement: str
    setup: str = ""
    relation: str = "t"
    in_transaction: bool = True


@dataclass
class SchemaFacts:
    """What earlier revisions (and earlier ops of this one) established, in upgrade order.

    Lets rules avoid false alarms peers raise, e.g. ``SET NOT NULL`` after a validated
    ``CHECK (col IS NOT NULL)`` from a previous revision (no table scan on PostgreSQL 12+).
    """

    #: Every CHECK constraint known, by (table, constraint name).
    checks: dict[tuple[str, str], CheckFact] = field(default_factory=dict)
    #: Column types as the history built them, by (table, column): raw SQL type changes do not
    #: say what they change from.
    column_types: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: Session settings made by ``SET`` earlier in the current revision (name -> value).
    settings: dict[str, str | None] = field(default_factory=dict)

    @property
    def validated_not_null(self) -> set[tuple[str, str]]:
        """(table, column) pairs a validated ``CHECK (col IS NOT NULL)`` proves non-null."""
        return {
            (table, fact.not_null_column)
            for (table, _name), fact in self.checks.items()
            if fact.validated and fact.not_null_column
        }

    def has_validated_check(self, table: str) -> bool:
        return any(fact.validated for (name, _), fact in self.checks.items() if name == table)

    def copy(self) -> SchemaFacts:
        """The schema facts alone (settings are per revision and direction)."""
        return SchemaFacts(checks=dict(self.checks), column_types=dict(self.column_types))


@dataclass(frozen=True)
class CheckFact:
    """A CHECK constraint: validated or not, and the column when it is ``col IS NOT NULL``."""

    validated: bool
    not_null_column: str | None = None


@dataclass(frozen=True)
class UpgradeProducts:
    """Tables and columns a revision's upgrade created (their removal is the rollback)."""

    tables: frozenset[str] = frozenset()
    columns: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, records: Iterable[OpRecord]) -> UpgradeProducts:
        tables: set[str] = set()
        columns: set[tuple[str, str]] = set()
        for record in records:
            operation = record.operation
            if isinstance(operation, ops.CreateTableOp) and record.table:
                tables.add(record.table)
            elif isinstance(operation, ops.RenameTableOp) and record.table in tables:
                tables.add(str(operation.new_table_name))
            elif isinstance(operation, ops.AddColumnOp) and record.table:
                columns.add((record.table, str(operation.column.name)))
        return cls(frozenset(tables), frozenset(columns))

    def covers(self, operation: MigrateOperation, table: str | None) -> bool:
        if table is not None and table in self.tables:
            return True
        if isinstance(operation, ops.DropColumnOp) and table is not None:
            return (table, str(operation.column_name)) in self.columns
        # An index or constraint drop on a table that already existed still locks that table
        # (ACCESS EXCLUSIVE), so only what the upgrade created *with its table* is exempt.
        return False


@dataclass
class RuleContext:
    """Everything a rule may know besides the operation it looks at."""

    target_version: int
    recording: Recording
    facts: SchemaFacts = field(default_factory=SchemaFacts)
    #: What this revision's upgrade created; a downgrade removing it is a plain rollback.
    made_by_upgrade: UpgradeProducts = field(default_factory=lambda: UpgradeProducts())
    #: The project's models (env.py's ``target_metadata``) when they could be loaded.
    models: MetaData | None = None
    #: True when the deploy tooling sets ``lock_timeout`` itself (``lock_timeout_by_runner``).
    lock_timeout_by_runner: bool = False

    def undoes_upgrade(self, record: OpRecord) -> bool:
        """True when a downgrade op only touches or removes what this revision's upgrade made.

        Dropping the table or column the upgrade created (and anything done to a table the
        upgrade created) is the rollback itself, not a new danger. Reversing a type change or a
        rename still is, and so is dropping an index from a table that already existed: that
        drop locks the table like any other.
        """
        if record.direction != "downgrade":
            return False
        return self.made_by_upgrade.covers(record.operation, record.table)

    def earlier(self, record: OpRecord) -> Iterator[OpRecord]:
        """Operations recorded before ``record`` in the same function, nearest first."""
        return reversed(self.recording.records[: record.index])


@dataclass
class RevisionContext:
    """What a revision-level rule sees: both recordings of one revision and its file."""

    target_version: int
    revision: str | None
    path: str | None
    source: str
    upgrade: Recording
    downgrade: Recording | None
    facts: SchemaFacts
    models: MetaData | None = None
    #: ``file_template`` of the Alembic config, when known (history hygiene).
    file_template: str | None = None
    #: True when the deploy tooling sets ``lock_timeout`` itself (``lock_timeout_by_runner``).
    lock_timeout_by_runner: bool = False


class Rule:
    """Base of every rule. Subclasses set the class attributes and implement :meth:`check`.

    The subclass docstring is the rule's documentation, in the sections "What it does",
    "Why is this bad?", "Example", "Use instead" and "Fix safety"; docs/rules/ is generated from it.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    risk: ClassVar[Risk]
    #: Operation classes this rule looks at (dispatch is on the class and its bases).
    operations: ClassVar[tuple[type[MigrateOperation], ...]] = ()
    #: The strongest lock the operation takes on the table, e.g. "ACCESS EXCLUSIVE" (None: none).
    lock: ClassVar[str | None] = None
    #: Whether the operation rewrites the whole table (new relfilenode).
    rewrites: ClassVar[bool] = False
    #: PostgreSQL majors the rule applies to (inclusive); None means unbounded.
    min_version: ClassVar[int | None] = None
    max_version: ClassVar[int | None] = None
    #: Operations on a table created earlier in the same revision are normally harmless (it is
    #: empty and nobody uses it yet); rules about things that fail regardless set this.
    applies_to_new_tables: ClassVar[bool] = False
    #: Why a human should review a revision with this finding (None: no escalation).
    escalation: ClassVar[str | None] = None
    #: Whether the autogenerate rewriter can replace the operation with a safe sequence.
    fixable: ClassVar[bool] = False
    #: A statement demonstrating ``lock``/``rewrites`` on a real server (checked by the tests).
    verification: ClassVar[Verification | None] = None

    def check(self, record: OpRecord, context: RuleContext) -> Iterable[Violation]:
        """Yield a Violation for each danger in ``record``; nothing when it is safe."""
        return ()

    def check_revision(self, revision: RevisionContext) -> Iterable[Violation]:
        """Revision-level rules (timeouts, downgrade mirroring, history) override this; it runs
        once per revision after both directions were recorded."""
        return ()

    @classmethod
    def is_revision_rule(cls) -> bool:
        return cls.check_revision is not Rule.check_revision

    # -- documentation ---------------------------------------------------------------------------

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.documentation().split("\n", 1)[0].strip()

    @classmethod
    def versions(cls) -> str:
        """Human-readable PostgreSQL version range: "all", ">= 12", "<= 11" or "12-14"."""
        if cls.min_version is None and cls.max_version is None:
            return "all"
        if cls.max_version is None:
            return f">= {cls.min_version}"
        if cls.min_version is None:
            return f"<= {cls.max_version}"
        return f"{cls.min_version}-{cls.max_version}"

    @classmethod
    def applies_to_version(cls, version: int) -> bool:
        if cls.min_version is not None and version < cls.min_version:
            return False
        return not (cls.max_version is not None and version > cls.max_version)


class Registry:
    """All rules by code, and a dispatch table from operation class to rules."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}
        self._dispatch: dict[type[Any], list[Rule]] = {}

    def register(self, rule_class: type[Rule]) -> type[Rule]:
        """Class decorator adding a rule; codes and names are checked and never reused."""
        code, name = rule_class.code, rule_class.name
        if not _CODE.match(code) or not _NAME.match(name):
            raise ValueError(f"bad rule code or name: {code} {name}")
        if code in self._rules or any(r.name == name for r in self._rules.values()):
            raise ValueError(f"duplicate rule {code} {name}")
        rule = rule_class()
        self._rules[code] = rule
        for op_class in rule_class.operations:
            self._dispatch.setdefault(op_class, []).append(rule)
        return rule_class

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.code))

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, code_or_name: str) -> Rule | None:
        key = code_or_name.strip()
        if key.upper() in self._rules:
            return self._rules[key.upper()]
        return next((r for r in self._rules.values() if r.name == key.lower()), None)

    def for_operation(self, operation: MigrateOperation) -> Iterator[Rule]:
        """Rules registered for the operation's class or any of its bases."""
        for klass in type(operation).__mro__:
            yield from self._dispatch.get(klass, ())


registry = Registry()
