"""AS103 add-generated-or-identity-column."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified, schema_kw, type_code


@registry.register
class AddGeneratedOrIdentityColumn(Rule):
    """Adding a stored generated column or an identity column to an existing table.

    ## What it does
    Flags `sa.Column(..., sa.Computed(..., persisted=True))` and `sa.Column(..., sa.Identity())`
    (`GENERATED ... AS (...) STORED`, `GENERATED ... AS IDENTITY`) added to an existing table.

    ## Why is this bad?
    PostgreSQL must compute and store a value for every existing row, so it rewrites the table
    under an ACCESS EXCLUSIVE lock; reads and writes wait for the whole rewrite.

    ## Example
    ```python
    op.add_column("orders", sa.Column("total_cents", sa.BigInteger(),
                  sa.Computed("quantity * price_cents", persisted=True)))
    ```

    ## Use instead
    Add a plain nullable column, keep it filled with a trigger (or application code), backfill
    in batches, then add constraints. For identity: add a nullable column with a sequence
    default set separately and backfill.

    ## Fix safety
    No automatic fix: the replacement needs a trigger whose body depends on the expression.
    """

    code = "AS103"
    name = "add-generated-or-identity-column"
    risk = Risk.HIGH
    operations = (ops.AddColumnOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = True
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ops.AddColumnOp)
        column = operation.column
        computed = column.computed
        if computed is not None and computed.persisted is not False:
            kind = "stored generated column"
        elif column.identity is not None:
            kind = "identity column"
        else:
            return
        table = qualified(record.table, record.schema)
        yield Violation(
            message=f'adding {kind} "{column.name}" to existing table "{table}" rewrites the '
            "table under an ACCESS EXCLUSIVE lock",
            help=(
                f"# add {py(column.name)} as a plain nullable column, a trigger fills new rows,\n"
                f"# backfill existing rows in batches, then add constraints NOT VALID + VALIDATE\n"
                f"op.add_column({py(record.table)}, sa.Column({py(column.name)}, "
                f"{type_code(column.type)}, nullable=True){schema_kw(record)})"
            ),
        )
