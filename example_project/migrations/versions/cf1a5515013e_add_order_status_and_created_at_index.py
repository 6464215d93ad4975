"""add order status and an index on orders.created_at

Revision ID: cf1a5515013e
Revises: f614dd44ae78
Create Date: 2024-03-19 14:27:55.630812

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'cf1a5515013e'
down_revision: Union[str, Sequence[str], None] = 'f614dd44ae78'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('orders', sa.Column('status', sa.String(length=20), nullable=False))
    op.create_index('ix_orders_created_at', 'orders', ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_orders_created_at', table_name='orders')
    op.drop_column('orders', 'status')
