"""validate the coupon foreign key and the price check

Revision ID: 28110a4e03a9
Revises: 8d6a70e84c1e
Create Date: 2024-05-09 09:05:41.367921

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '28110a4e03a9'
down_revision: Union[str, Sequence[str], None] = '8d6a70e84c1e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE:
    # reads and writes go on while it runs.
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_coupon_id_coupons")
    op.execute("ALTER TABLE products VALIDATE CONSTRAINT ck_products_price_non_negative")


def downgrade() -> None:
    """Downgrade schema."""
    # PostgreSQL cannot mark a constraint as not validated again: put both back
    # the way revision 8d6a70e84c1e left them.
    op.drop_constraint('ck_products_price_non_negative', 'products', type_='check')
    op.create_check_constraint(
        'ck_products_price_non_negative',
        'products',
        'price >= 0',
        postgresql_not_valid=True,
    )
    op.drop_constraint('fk_orders_coupon_id_coupons', 'orders', type_='foreignkey')
    op.create_foreign_key(
        'fk_orders_coupon_id_coupons',
        'orders',
        'coupons',
        ['coupon_id'],
        ['id'],
        postgresql_not_valid=True,
    )
