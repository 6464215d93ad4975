"""order item totals and positions

Revision ID: 0005
Revises: 0004
Create Date: 2023-04-19 08:20:51.610937

"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(  # expect: AS103
        "order_items",
        sa.Column(
            "line_total", sa.Numeric(12, 2), sa.Computed("quantity * unit_price", persisted=True)
        ),
    )
    op.execute("ALTER TABLE order_items ADD COLUMN position bigserial")  # expect: AS102
    op.add_column(  # expect: safe
        "order_items",
        sa.Column("discount", sa.Numeric(10, 2), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("order_items", "discount")  # expect: safe
    op.drop_column("order_items", "position")  # expect: safe
    op.drop_column("order_items", "line_total")  # expect: safe
