"""backfill orders.placed_at and order_items.discount

Revision ID: 0025
Revises: 0024
Create Date: 2023-10-09 12:15:37.665104

"""
import sqlalchemy as sa
from alembic import op

from bazaar.migration_helpers import backfill_in_batches

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keyset batches, each committed on its own: row locks last one batch.
    backfill_in_batches("orders", "placed_at = created_at", "placed_at IS NULL")  # expect: safe
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        last_id = 0
        while True:
            rows = bind.execute(  # expect: safe
                sa.text(
                    "UPDATE shipments SET carrier = lower(carrier) WHERE id IN ("
                    "SELECT id FROM shipments WHERE id > :last ORDER BY id LIMIT 2000) "
                    "RETURNING id"
                ),
                {"last": last_id},
            ).fetchall()
            if not rows:
                break
            last_id = max(row[0] for row in rows)
    # Batched, but every batch stays locked until Alembic's transaction commits.
    for start in range(0, 2_000_000, 50_000):
        bind.execute(  # expect: AS505
            sa.text(
                "UPDATE order_items SET discount = 0 "
                "WHERE discount IS NULL AND id >= :low AND id < :high"
            ),
            {"low": start, "high": start + 50_000},
        )
    op.execute("ANALYZE orders")  # expect: safe


def downgrade() -> None:  # expect: AS603
    pass
