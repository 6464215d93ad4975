"""AS119 attach-partition-without-check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alembic.operations import ops
from pglast import ast, parse_sql
from pglast.parser import ParseError

from alembic_safety.analysis.ops import PartitionOp, ValidateConstraintOp
from alembic_safety.analysis.recorder import OpRecord
from alembic_safety.analysis.sql import deparse
from alembic_safety.risk import Risk
from alembic_safety.rules.base import Rule, RuleContext, Verification, Violation, registry
from alembic_safety.rules.common import py, qualified

#: From PostgreSQL 12 ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent; before, ACCESS
#: EXCLUSIVE (so the scan blocked the whole partitioned table).
_REDUCED_LOCK_SINCE = 12

KEY = "<key>"


def _bound(record: OpRecord) -> Any:
    """pglast's PartitionBoundSpec of the ATTACH statement the op came from (None if unknown)."""
    if record.from_sql is None:
        return None
    try:
        statement = parse_sql(record.from_sql)[0].stmt
    except (ParseError, IndexError):
        return None
    for cmd in getattr(statement, "cmds", None) or ():
        spec = getattr(cmd.def_, "bound", None)
        if isinstance(spec, ast.PartitionBoundSpec):
            return spec
    return None


def bound_condition(record: OpRecord) -> str:
    """A CHECK condition implying the partition bound, with ``<key>`` for the partition key.

    Written out for single-column RANGE and for LIST bounds; other bounds (several key columns,
    HASH, DEFAULT) get a placeholder.
    """
    spec = _bound(record)
    generic = "<condition implying the partition bound>"
    if spec is None:
        return generic
    lower = [deparse(d) for d in spec.lowerdatums or ()]
    upper = [deparse(d) for d in spec.upperdatums or ()]
    values = [deparse(d) for d in spec.listdatums or ()]
    if spec.strategy == "r" and len(lower) == len(upper) == 1:
        parts = [f"{KEY} IS NOT NULL"]
        if lower[0].lower() != "minvalue":
            parts.append(f"{KEY} >= {lower[0]}")
        if upper[0].lower() != "maxvalue":
            parts.append(f"{KEY} < {upper[0]}")
        return " AND ".join(parts)
    if spec.strategy == "l" and values:
        non_null = [v for v in values if v.lower() != "null"]
        listed = f"{KEY} IN ({', '.join(non_null)})" if non_null else "false"
        if len(non_null) < len(values):
            return f"({KEY} IS NULL OR {listed})"
        return f"{KEY} IS NOT NULL AND {listed}"
    return generic


def has_validated_check(partition: str, record: OpRecord, context: RuleContext) -> bool:
    """True when this revision added a validated CHECK on ``partition`` before ``record``.

    A CHECK added validated counts, and so does one added ``NOT VALID`` and validated by a later
    ``VALIDATE CONSTRAINT`` (still before the attach). Whether it implies the bound is not
    checked: PostgreSQL then simply scans, as without it.
    """
    validated: set[str] = set()
    for earlier in context.earlier(record):  # nearest first
        operation = earlier.operation
        if earlier.table != partition:
            continue
        if isinstance(operation, ValidateConstraintOp):
            validated.add(str(operation.constraint_name))
        elif isinstance(operation, ops.CreateCheckConstraintOp):
            if not operation.kw.get("postgresql_not_valid"):
                return True
            if str(operation.constraint_name) in validated:
                return True
    return False


def created_here(partition: str, record: OpRecord, context: RuleContext) -> bool:
    return any(
        isinstance(earlier.operation, ops.CreateTableOp) and earlier.table == partition
        for earlier in context.earlier(record)
    )


@registry.register
class AttachPartitionWithoutCheck(Rule):
    """`ATTACH PARTITION` without a validated CHECK matching the bound: a scan under lock.

    ## What it does
    Flags `ALTER TABLE parent ATTACH PARTITION child FOR VALUES ...` (and `... DEFAULT`) unless
    the same revision first gives `child` a validated CHECK constraint — added validated, or
    added `NOT VALID` and then `VALIDATE`d. A partition created earlier in the same revision is
    not flagged (it is new, nobody waits for it), nor is anything on a partitioned table created
    in the revision.

    ## Why is this bad?
    PostgreSQL must prove that every row of the new partition fits its bound, so it scans the
    whole table while holding an ACCESS EXCLUSIVE lock on it, and a SHARE UPDATE EXCLUSIVE lock
    on the parent (PostgreSQL 12+; on 11 and older the parent is locked ACCESS EXCLUSIVE, so the
    whole partitioned table is blocked for the scan, and the rule reports HIGH). If the parent
    has a DEFAULT partition, that one is scanned too, to make sure none of its rows belong to
    the new partition. The scan is skipped when a validated CHECK constraint on the partition
    implies the bound; such a CHECK can be added `NOT VALID` and validated under a SHARE UPDATE
    EXCLUSIVE lock, which blocks no reads or writes.

    The linter sees only this revision: a CHECK added by an earlier revision is not known yet,
    so suppress the finding with that reason. Whether the CHECK really implies the bound is not
    checked — PostgreSQL scans when it does not.

    ## Example
    ```python
    op.execute(
        "ALTER TABLE measurements ATTACH PARTITION measurements_2024 "
        "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    )
    ```

    ## Use instead
    ```python
    # best in an earlier revision: a CHECK matching the bound, validated without blocking
    op.create_check_constraint(
        "measurements_2024_bound",
        "measurements_2024",
        "created_at IS NOT NULL AND created_at >= '2024-01-01' AND created_at < '2025-01-01'",
        postgresql_not_valid=True,
    )
    op.execute("ALTER TABLE measurements_2024 VALIDATE CONSTRAINT measurements_2024_bound")
    # then the attach skips its scan, and the CHECK is redundant:
    op.execute(
        "ALTER TABLE measurements ATTACH PARTITION measurements_2024 "
        "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    )
    op.drop_constraint("measurements_2024_bound", "measurements_2024")
    ```

    ## Fix safety
    No automatic fix: the CHECK must be written in terms of the partition key, which the
    ATTACH statement does not name.
    """

    code = "AS119"
    name = "attach-partition-without-check"
    risk = Risk.MEDIUM
    operations = (PartitionOp,)
    lock = "ACCESS EXCLUSIVE"
    rewrites = False
    verification = Verification(
        setup="CREATE TABLE t (id bigint NOT NULL, created date NOT NULL) "
        "PARTITION BY RANGE (created);"
        "CREATE TABLE t_2024 (id bigint NOT NULL, created date NOT NULL);"
        "INSERT INTO t_2024 SELECT g, '2024-06-01' FROM generate_series(1, 1000) g;",
        statement="ALTER TABLE t ATTACH PARTITION t_2024 "
        "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        # the scanned partition is what ACCESS EXCLUSIVE is taken on (the parent gets SHARE
        # UPDATE EXCLUSIVE)
        relation="t_2024",
    )

    def check(self, record: OpRecord, context: RuleContext) -> Iterator[Violation]:
        operation = record.operation
        assert isinstance(operation, PartitionOp)
        if operation.action != "attach":
            return
        partition = operation.partition
        if created_here(partition, record, context):
            return
        if has_validated_check(partition, record, context) or context.facts.has_validated_check(
            partition
        ):
            return
        parent = qualified(record.table, record.schema)
        old = context.target_version < _REDUCED_LOCK_SINCE
        parent_lock = "ACCESS EXCLUSIVE" if old else "SHARE UPDATE EXCLUSIVE"
        message = (
            f'attaching partition "{partition}" to "{parent}" scans all of {partition} under an '
            f'ACCESS EXCLUSIVE lock on it (and {parent_lock} on "{parent}") to check the '
            "partition bound"
        )
        if old:
            message += (
                f"; on PostgreSQL {context.target_version} that blocks every query on "
                f"{parent} for the scan"
            )
        kind = "DEFAULT partition" if operation.is_default else "partition"
        schema = operation.partition_schema
        full = qualified(partition, schema)
        schema_arg = f", schema={py(schema)}" if schema else ""
        constraint = f"{partition}_bound"
        attach = record.from_sql or (
            f"ALTER TABLE {parent} ATTACH PARTITION {partition} "
            + ("DEFAULT" if operation.is_default else "FOR VALUES ...")
        )
        yield Violation(
            message=message,
            table=partition,
            risk=Risk.HIGH if old else None,
            help=(
                f"# first (ideally in an earlier revision) give the {kind} a CHECK that implies "
                f"its bound ({KEY}: the partition key of {parent}), validated without blocking:\n"
                f"op.create_check_constraint({py(constraint)}, {py(partition)}, "
                f"{py(bound_condition(record))}, postgresql_not_valid=True{schema_arg})\n"
                f'op.execute("ALTER TABLE {full} VALIDATE CONSTRAINT {constraint}")\n'
                "# then the attach skips its scan, and the CHECK is redundant:\n"
                f"op.execute({py(attach)})\n"
                f"op.drop_constraint({py(constraint)}, {py(partition)}{schema_arg})"
            ),
        )
