"""Helpers the bazaar revisions share: timestamps, concurrent indexes, keyset backfills."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def add_timestamps(table: str) -> None:
    """created_at (filled for existing rows from a constant-time default) and updated_at."""
    op.add_column(
        table,
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.add_column(table, sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def drop_timestamps(table: str) -> None:
    op.drop_column(table, "updated_at")
    op.drop_column(table, "created_at")


def create_index_concurrently(name: str, table: str, columns: list[str], **kw: object) -> None:
    """Build an index without blocking writes (outside the migration's transaction)."""
    with op.get_context().autocommit_block():
        op.create_index(
            name, table, columns, postgresql_concurrently=True, if_not_exists=True, **kw
        )


def drop_index_concurrently(name: str, table: str) -> None:
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def backfill_in_batches(table: str, assignment: str, condition: str, batch_size: int = 5000) -> None:
    """``UPDATE table SET assignment WHERE condition``, one committed key range at a time."""
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        last_id = 0
        while True:
            row = bind.execute(
                sa.text(
                    f"SELECT max(id) FROM (SELECT id FROM {table} WHERE id > :last "
                    f"ORDER BY id LIMIT {batch_size}) AS batch"
                ),
                {"last": last_id},
            ).fetchone()
            if row is None or row[0] is None:
                break
            bind.execute(
                sa.text(
                    f"UPDATE {table} SET {assignment} "
                    f"WHERE ({condition}) AND id > :last AND id <= :upto"
                ),
                {"last": last_id, "upto": row[0]},
            )
            last_id = row[0]


def index_column(table: str, column: str, *, schema: str | None = None) -> None:
    """A plain index ``ix_<table>_<column>`` (inside the migration's transaction)."""
    op.create_index(f"ix_{table}_{column}", table, [column], schema=schema)
