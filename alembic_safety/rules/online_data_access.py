"""AS902 online-data-access."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import DataAccessOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.analysis.sql import reads_only_catalog
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Violation, registry


@registry.register
class OnlineDataAccess(Rule):
    """Code that reads the live database (`op.get_bind()`, reflection): not analysed statically.

    ## What it does
    Reports each use of `op.get_bind().execute(...)`, `sa.inspect(bind)` and other calls that
    need a real connection. In check mode they run against a connection that returns no rows,
    so the code after them is analysed as if the tables were empty. SQL they run is still
    parsed and checked by the other rules. A `SELECT` that reads only the system catalogs
    (`pg_index`, `pg_catalog.*`, `information_schema.*`) looks at the schema, not at the data,
    and is not reported.

    ## Why is this bad?
    It is not bad in itself, but what the revision does depends on production data, which no
    static check can see: run it through the dry run (which seeds rows) before deploying.

    ## Example
    ```python
    for (user_id,) in op.get_bind().execute(sa.text("SELECT id FROM users")):
        ...
    ```

    ## Use instead
    Keep data migrations in revisions of their own, batched, idempotent, and dry-run them.

    ## Fix safety
    Nothing to fix: informational.
    """

    code = "AS902"
    name = "online-data-access"
    risk = Risk.LOW
    operations = (DataAccessOp,)
    applies_to_new_tables = True
    escalation = "transforms data in ways that are not analysed statically"

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, DataAccessOp)
        if operation.sql and reads_only_catalog(operation.sql):
            return  # a look at the schema (is that index valid?), not at the data
        what = operation.kind
        if operation.sql:
            snippet = " ".join(operation.sql.split())
            what = f"{what}: {snippet[:77] + '...' if len(snippet) > 80 else snippet}"
        yield Violation(
            message=f"needs a live database ({what}); not analysed statically",
            help="keep data migrations in their own revision, batched and idempotent, and "
            "dry-run them with seeded data",
        )
