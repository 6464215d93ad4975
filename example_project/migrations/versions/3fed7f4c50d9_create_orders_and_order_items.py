"""create orders and order items

Revision ID: 3fed7f4c50d9
Revises: 1a2401130dc0
Create Date: 2024-02-12 16:40:03.771254

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3fed7f4c50d9'
down_revision: Union[str, Sequence[str], None] = '1a2401130dc0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('total', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column(
            'created_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('now()'),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_orders_user_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_orders'),
    )
    # The table was created just above and is still empty: a plain index is fine here.
    op.create_index('ix_orders_user_id', 'orders', ['user_id'], unique=False)
    op.create_table(
        'order_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('unit_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ['order_id'],
            ['orders.id'],
            name='fk_order_items_order_id_orders',
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['product_id'], ['products.id'], name='fk_order_items_product_id_products'
        ),
        sa.PrimaryKeyConstraint('id', name='pk_order_items'),
    )
    op.create_index('ix_order_items_order_id', 'order_items', ['order_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_order_items_order_id', table_name='order_items')
    op.drop_table('order_items')
    op.drop_index('ix_orders_user_id', table_name='orders')
    op.drop_table('orders')
