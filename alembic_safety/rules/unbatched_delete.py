"""AS503 unbatched-delete."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import DeleteRowsOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified
from alembic_safety.rules.unbatched_update import keyset_batches_help, short, where_text


@registry.register
class UnbatchedDelete(Rule):
    """`DELETE` with a `WHERE` that does not bound one batch, on an existing table.

    ## What it does
    Flags `DELETE FROM table WHERE condition` on an existing table when the WHERE clause is not
    limited to one batch: neither a `LIMIT` subquery nor a bound parameter (the keyset
    `id > :last` of a batching loop). Written with `op.execute` or `op.get_bind().execute`.
    The DELETE without any WHERE is AS304 (CRITICAL) and is not reported again here.

    ## Why is this bad?
    A condition such as `WHERE expires_at < now()` may match most of the table: every matching
    row is locked until the migration's transaction commits (concurrent updates of those rows
    wait), the dead rows bloat the table until vacuum, and replication lags. The linter cannot
    know how many rows match, so a point delete (`WHERE id = 42`) is reported too: suppress it
    with a reason.

    ## Example
    ```python
    op.execute("DELETE FROM sessions WHERE expires_at < now()")
    ```

    ## Use instead
    Walk the primary key in ranges, one committed statement per range:
    ```python
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        last_id = 0
        while True:
            row = bind.execute(sa.text(
                "SELECT max(id) FROM (SELECT id FROM sessions WHERE id > :last "
                "ORDER BY id LIMIT 5000) AS batch"), {"last": last_id}).fetchone()
            if row is None or row[0] is None:
                break
            bind.execute(sa.text(
                "DELETE FROM sessions "
                "WHERE (expires_at < now()) AND id > :last AND id <= :upto"),
                {"last": last_id, "upto": row[0]})
            last_id = row[0]
    ```

    ## Fix safety
    No automatic fix: deleted rows are gone; decide what must go and keep a backup.
    """

    code = "AS503"
    name = "unbatched-delete"
    risk = Risk.MEDIUM
    operations = (DeleteRowsOp,)
    lock = "ROW EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="DELETE FROM t WHERE a = 1",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, DeleteRowsOp)
        if not operation.has_where or operation.batched:
            return
        table = qualified(record.table, record.schema)
        condition = where_text(record.from_sql)
        where = f"WHERE {short(condition)}" if condition else "its WHERE"
        yield Violation(
            message=f'DELETE from "{table}" is not batched: {where} may match most rows, all '
            "deleted and locked in one transaction",
            help=keyset_batches_help(
                record,
                f"DELETE FROM {table} WHERE (<condition>) AND id > :last AND id <= :upto",
            ),
        )
