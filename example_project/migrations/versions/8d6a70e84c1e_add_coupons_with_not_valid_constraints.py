"""add coupons; foreign key and price check added NOT VALID

Revision ID: 8d6a70e84c1e
Revises: 9dc1f6595274
Create Date: 2024-05-02 15:33:08.912740

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '8d6a70e84c1e'
down_revision: Union[str, Sequence[str], None] = '9dc1f6595274'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'coupons',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('percent_off', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_coupons'),
        sa.UniqueConstraint('code', name='uq_coupons_code'),
    )
    op.add_column('orders', sa.Column('coupon_id', sa.Integer(), nullable=True))
    # NOT VALID: existing rows are not scanned now, so the ALTER holds its lock
    # only for a moment.  Revision 28110a4e03a9 validates both constraints.
    op.create_foreign_key(
        'fk_orders_coupon_id_coupons',
        'orders',
        'coupons',
        ['coupon_id'],
        ['id'],
        postgresql_not_valid=True,
    )
    op.create_check_constraint(
        'ck_products_price_non_negative',
        'products',
        'price >= 0',
        postgresql_not_valid=True,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint('ck_products_price_non_negative', 'products', type_='check')
    op.drop_constraint('fk_orders_coupon_id_coupons', 'orders', type_='foreignkey')
    op.drop_column('orders', 'coupon_id')
    op.drop_table('coupons')
