"""AS901 unparseable-sql."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import DataAccessOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry


@registry.register
class UnparseableSql(Rule):
    """Raw SQL that PostgreSQL's parser rejects, so it could not be checked.

    ## What it does
    Reports `op.execute(...)` (or bind) SQL that pglast — PostgreSQL's own grammar — cannot
    parse: a syntax error, a template placeholder, or another database's dialect.

    ## Why is this bad?
    Either the statement will fail on deploy, or it is valid on some other database and the
    linter cannot tell what it locks or rewrites: its dangers went unchecked.

    ## Example
    ```python
    op.execute("ALTER TABEL orders ADD COLUMN note text")
    ```

    ## Use instead
    Fix the SQL, or write the change with `op.*` operations. If it is deliberate (another
    dialect behind a dialect check), suppress with a reason.

    ## Fix safety
    No automatic fix.
    """

    code = "AS901"
    name = "unparseable-sql"
    risk = Risk.MEDIUM
    operations = (ops.ExecuteSQLOp, DataAccessOp)
    applies_to_new_tables = True

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        if record.sql is None or record.sql.error is None:
            return
        snippet = " ".join(record.sql.text.split())
        if len(snippet) > 80:
            snippet = snippet[:77] + "..."
        yield Violation(
            message=f"SQL could not be parsed ({record.sql.error}), so it was not checked: "
            f"{snippet}",
            help="fix the statement, or write it with op.* operations so it can be checked",
        )
