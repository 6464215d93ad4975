"""AS402 validate-in-same-transaction.

Also home of the transaction helpers the other 4xx rules share: :func:`in_transaction` and
:func:`same_transaction` (which earlier operations run in the transaction of this one).
"""

from __future__ import annotations

from collections.abc import Iterator

from alembic.operations import ops

from alembic_safety.analysis.ops import TransactionControlOp, ValidateConstraintOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified

__all__ = ["in_transaction", "same_transaction"]


def in_transaction(record: OpRecord, context: RuleContext) -> bool:
    """Whether ``record`` runs inside a transaction block.

    Not inside ``autocommit_block()``, nor after a SQL ``COMMIT`` / ``ROLLBACK`` that no
    ``BEGIN`` followed (the recorder marks those as autocommit already; operations assessed
    without a recorder only have the ``TransactionControlOp`` to go by).
    """
    if record.in_autocommit:
        return False
    for earlier in context.earlier(record):
        if isinstance(earlier.operation, TransactionControlOp):
            return earlier.operation.kind == "begin"
    return True


def same_transaction(record: OpRecord, context: RuleContext) -> Iterator[OpRecord]:
    """The operations before ``record`` in the same transaction, nearest first.

    An autocommit block commits the transaction before it starts, and so does a SQL ``COMMIT``;
    nothing is yielded when ``record`` itself runs outside a transaction.
    """
    if not in_transaction(record, context):
        return
    for earlier in context.earlier(record):
        if earlier.in_autocommit or isinstance(earlier.operation, TransactionControlOp):
            return
        yield earlier


_NOT_VALID_ADDS = (ops.CreateForeignKeyOp, ops.CreateCheckConstraintOp)


@registry.register
class ValidateInSameTransaction(Rule):
    """`VALIDATE CONSTRAINT` in the same transaction as the `NOT VALID` add of that constraint.

    ## What it does
    Flags `ALTER TABLE ... VALIDATE CONSTRAINT c` when `c` was added with
    `postgresql_not_valid=True` (`NOT VALID`) earlier in the same transaction: same revision, no
    `autocommit_block()` or `COMMIT` in between.

    ## Why is this bad?
    `NOT VALID` exists so that the lock of the `ADD CONSTRAINT` (ACCESS EXCLUSIVE for a CHECK,
    SHARE ROW EXCLUSIVE on both tables for a foreign key) is held only for a moment, and the
    scan happens later under VALIDATE's SHARE UPDATE EXCLUSIVE lock, which lets reads and writes
    go on. Locks are kept until commit, so validating in the same transaction holds the strong
    lock of the add during the whole scan: the same outage as adding the constraint validated.

    ## Example
    ```python
    op.create_foreign_key("fk_orders_user_id", "orders", "users", ["user_id"], ["id"],
                          postgresql_not_valid=True)
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id")
    ```

    ## Use instead
    Commit the add first: validate in an autocommit block, or in the next revision.
    ```python
    op.create_foreign_key("fk_orders_user_id", "orders", "users", ["user_id"], ["id"],
                          postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id")
    ```

    ## Fix safety
    Safe: the constraint ends up validated either way; only the lock is shorter.
    """

    code = "AS402"
    name = "validate-in-same-transaction"
    risk = Risk.MEDIUM
    operations = (ValidateConstraintOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigserial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);",
        statement="ALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a > 0) NOT VALID; "
        "ALTER TABLE t VALIDATE CONSTRAINT ck_t_a",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, ValidateConstraintOp)
        name = operation.constraint_name
        added = next(
            (
                earlier.operation
                for earlier in same_transaction(record, context)
                if isinstance(earlier.operation, _NOT_VALID_ADDS)
                and str(earlier.operation.constraint_name) == name
                and earlier.table == record.table
                and earlier.operation.kw.get("postgresql_not_valid")
            ),
            None,
        )
        if added is None:
            return
        table = qualified(record.table, record.schema)
        if isinstance(added, ops.CreateForeignKeyOp):
            held = (
                f'SHARE ROW EXCLUSIVE locks of the foreign key on "{table}" and '
                f'"{added.referent_table}" are'
            )
        else:
            held = f'ACCESS EXCLUSIVE lock of the ADD CONSTRAINT on "{table}" is'
        yield Violation(
            message=f'VALIDATE CONSTRAINT "{name}" runs in the transaction that added it NOT '
            f"VALID: the {held} held during the whole validation scan",
            help=(
                "with op.get_context().autocommit_block():  # commits the NOT VALID add first\n"
                f"    op.execute({py(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}')})\n"
                "# or move the VALIDATE to the next revision"
            ),
        )
