"""AS502 unbatched-update."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan

from alembic_safety.analysis.ops import UpdateRowsOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified

#: Keys per batch in the help snippets.
BATCH_SIZE = 5000


@dataclass(frozen=True)
class _Batchable:
    #: The WHERE condition as written.
    condition: str
    #: The statement with its WHERE narrowed to the key range ``(:last, :upto]``.
    one_batch: str


@lru_cache(maxsize=1024)
def _batchable(statement: str | None) -> _Batchable | None:
    """Split an UPDATE/DELETE at its top-level WHERE (the text as written, not re-printed).

    The condition is kept and parenthesised; with a ``FROM``/``USING`` clause or an alias the key
    is qualified so that it still names the table being changed.
    """
    if not statement:
        return None
    try:
        parsed = parse_sql(statement)
        tokens = scan(statement)
    except ParseError:
        return None
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, (ast.UpdateStmt, ast.DeleteStmt)):
        return None
    node = parsed[0].stmt
    if node.whereClause is None or node.relation is None:
        return None
    depth, start, end = 0, None, len(statement)
    for token in tokens:
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
        elif depth == 0 and start is None and token.name == "WHERE":
            start = token.end + 1
        elif depth == 0 and start is not None and token.name in ("RETURNING", "ASCII_59"):
            end = token.start
            break
    if start is None:
        return None
    relation = node.relation
    joined = bool(getattr(node, "fromClause", None) or getattr(node, "usingClause", None))
    if relation.alias is not None:
        key = f"{relation.alias.aliasname}.id"
    elif joined:
        key = f"{qualified(relation.relname, relation.schemaname)}.id"
    else:
        key = "id"
    condition = " ".join(statement[start:end].split())
    rest = statement[end:].strip()
    one_batch = f"{statement[:start].rstrip()} ({condition}) AND {key} > :last AND {key} <= :upto"
    return _Batchable(condition, f"{one_batch} {rest}" if rest else one_batch)


def where_text(statement: str | None) -> str | None:
    """The WHERE condition of an UPDATE/DELETE statement, as written (None if unknown)."""
    parts = _batchable(statement)
    return parts.condition if parts else None


def keyset_batches_help(record: OpRecord, fallback: str) -> str:
    """Copy-pasteable Alembic code running ``record``'s statement in committed key-range batches.

    Walks the primary key (assumed ``id``) in ranges of :data:`BATCH_SIZE` keys, each statement
    committed on its own in an autocommit block; the loop ends on an empty range, so it stops
    after one query in check mode too (the result is empty there).
    """
    table = qualified(record.table, record.schema)
    parts = _batchable(record.from_sql)
    batch = parts.one_batch if parts else fallback
    keys = (
        f"SELECT max(id) FROM (SELECT id FROM {table} WHERE id > :last "
        f"ORDER BY id LIMIT {BATCH_SIZE}) AS batch"
    )
    return (
        f"# one range of {BATCH_SIZE} keys per statement, each committed on its own "
        "(keyset on the primary key, here id):\n"
        "with op.get_context().autocommit_block():\n"
        "    bind = op.get_bind()\n"
        "    last_id = 0\n"
        "    while True:\n"
        f'        row = bind.execute(sa.text({py(keys)}), {{"last": last_id}}).fetchone()\n'
        "        if row is None or row[0] is None:\n"
        "            break\n"
        f"        bind.execute(sa.text({py(batch)}), "
        '{"last": last_id, "upto": row[0]})\n'
        "        last_id = row[0]"
    )


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@registry.register
class UnbatchedUpdate(Rule):
    """`UPDATE` with a `WHERE` that does not bound one batch, on an existing table.

    ## What it does
    Flags `UPDATE table SET ... WHERE condition` on an existing table when the WHERE clause is
    not limited to one batch: neither a `LIMIT` subquery nor a bound parameter (the keyset
    `id > :last` of a batching loop). Written with `op.execute` or `op.get_bind().execute`.
    The UPDATE without any WHERE is AS501 (HIGH) and is not reported again here.

    ## Why is this bad?
    A condition such as `WHERE sku IS NULL` may match most of the table: every matching row is
    changed and stays locked until the migration's transaction commits, concurrent writers to
    those rows wait (or deadlock), the table bloats and replication lags. The linter cannot know
    how many rows match, so a point update (`WHERE id = 42`) is reported too: suppress it with
    a reason.

    ## Example
    ```python
    op.execute("UPDATE products SET sku = upper(sku) WHERE sku <> upper(sku)")
    ```

    ## Use instead
    Walk the primary key in ranges, one committed statement per range:
    ```python
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        last_id = 0
        while True:
            row = bind.execute(sa.text(
                "SELECT max(id) FROM (SELECT id FROM products WHERE id > :last "
                "ORDER BY id LIMIT 5000) AS batch"), {"last": last_id}).fetchone()
            if row is None or row[0] is None:
                break
            bind.execute(sa.text(
                "UPDATE products SET sku = upper(sku) "
                "WHERE (sku <> upper(sku)) AND id > :last AND id <= :upto"),
                {"last": last_id, "upto": row[0]})
            last_id = row[0]
    ```

    ## Fix safety
    No automatic fix: the statement must be safe to re-run batch by batch (idempotent), and the
    table's key may not be `id`.
    """

    code = "AS502"
    name = "unbatched-update"
    risk = Risk.MEDIUM
    operations = (UpdateRowsOp,)
    lock = "ROW EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="UPDATE t SET a = 2 WHERE a = 1",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, UpdateRowsOp)
        if not operation.has_where or operation.batched:
            return
        table = qualified(record.table, record.schema)
        condition = where_text(record.from_sql)
        where = f"WHERE {short(condition)}" if condition else "its WHERE"
        yield Violation(
            message=f'UPDATE of "{table}" is not batched: {where} may match most rows, all '
            "changed and locked in one transaction",
            help=keyset_batches_help(
                record,
                f"UPDATE {table} SET ... WHERE (<condition>) AND id > :last AND id <= :upto",
            ),
        )
