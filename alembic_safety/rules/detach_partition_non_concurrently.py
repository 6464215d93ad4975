"""AS120 detach-partition-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_safety.analysis.ops import PartitionOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import qualified


@registry.register
class DetachPartitionNonConcurrently(Rule):
    """`DETACH PARTITION` without `CONCURRENTLY`, or with it inside a transaction.

    ## What it does
    Flags `ALTER TABLE parent DETACH PARTITION child` without `CONCURRENTLY` on an existing
    partitioned table, when the target is PostgreSQL 14 or newer. Also flags `DETACH PARTITION
    ... CONCURRENTLY` outside `op.get_context().autocommit_block()`, because it cannot run in a
    transaction block (that case is reported even for a table created in the same revision).

    ## Why is this bad?
    A plain DETACH takes an ACCESS EXCLUSIVE lock on the parent: every query on the whole
    partitioned table waits, and while the DETACH itself waits behind a long-running query,
    every query after it queues too. `DETACH PARTITION ... CONCURRENTLY` (PostgreSQL 14+) takes
    only SHARE UPDATE EXCLUSIVE on the parent and waits for running queries instead of blocking
    new ones. It runs in two transactions of its own, so inside Alembic's transaction it fails
    (`ERROR: ALTER TABLE ... DETACH CONCURRENTLY cannot run inside a transaction block`).

    Before PostgreSQL 14 there is no concurrent form and the rule does not apply: the plain
    DETACH is a catalog-only change, as short as its lock wait; set a `lock_timeout`. With
    `CONCURRENTLY` the parent must not have a DEFAULT partition, and a detach that was
    interrupted is completed with `ALTER TABLE ... DETACH PARTITION ... FINALIZE`.

    ## Example
    ```python
    op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2019")
    ```

    ## Use instead
    ```python
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY")
    ```

    ## Fix safety
    No automatic fix. Applying the help by hand is safe when the parent has no DEFAULT
    partition (PostgreSQL refuses CONCURRENTLY then).
    """

    code = "AS120"
    name = "detach-partition-non-concurrently"
    risk = Risk.MEDIUM
    operations = (PartitionOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    min_version = 14
    #: DETACH ... CONCURRENTLY inside a transaction fails whatever the table; the lock case
    #: applies the new-table exemption itself.
    applies_to_new_tables = True
    verification = Verification(
        setup="CREATE TABLE t (id bigint NOT NULL, created date NOT NULL) "
        "PARTITION BY RANGE (created);"
        "CREATE TABLE t_2024 PARTITION OF t FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        "INSERT INTO t SELECT g, '2024-06-01' FROM generate_series(1, 1000) g;",
        statement="ALTER TABLE t DETACH PARTITION t_2024",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, PartitionOp)
        if operation.action != "detach":
            return
        parent = qualified(record.table, record.schema)
        statement = f"ALTER TABLE {parent} DETACH PARTITION {operation.partition} CONCURRENTLY"
        safe = f'with op.get_context().autocommit_block():\n    op.execute("{statement}")'
        if operation.concurrently:
            if record.in_autocommit:
                return
            yield Violation(
                message="DETACH PARTITION ... CONCURRENTLY cannot run inside a transaction "
                "block; this migration fails unless it runs in "
                "op.get_context().autocommit_block()",
                help=safe,
            )
            return
        if record.table_is_new or context.undoes_upgrade(record):
            return
        yield Violation(
            message=f'detaching partition "{operation.partition}" without CONCURRENTLY takes an '
            f'ACCESS EXCLUSIVE lock on "{parent}": every query on the partitioned table waits',
            help=safe + f"\n# (not possible while {parent} has a DEFAULT partition: then set a "
            "lock_timeout instead)",
        )
