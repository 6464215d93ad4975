"""analytics schema with its own orders table; index public.orders.total

Revision ID: 0043
Revises: 0042
Create Date: 2024-04-02 10:52:08.930174

"""
import sqlalchemy as sa
from alembic import op

from bazaar.migration_helpers import index_column

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS analytics")  # expect: safe
    op.create_table(  # expect: safe
        "orders",
        sa.Column("order_id", sa.BigInteger(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        schema="analytics",
    )
    op.create_index(  # expect: safe
        "ix_analytics_orders_day", "orders", ["day"], schema="analytics"
    )
    op.execute(  # expect: safe
        "INSERT INTO analytics.orders (order_id, day, total) "
        "SELECT id, created_at::date, total FROM orders"
    )
    # Not the new analytics.orders: the busy public.orders.
    index_column("orders", "total")  # expect: AS106


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(  # expect: safe
            "ix_orders_total", table_name="orders", postgresql_concurrently=True
        )
    op.drop_table("orders", schema="analytics")  # expect: safe
    op.execute("DROP SCHEMA analytics")  # expect: safe
