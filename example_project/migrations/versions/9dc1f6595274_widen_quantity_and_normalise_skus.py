"""widen order_items.quantity and normalise product skus

Revision ID: 9dc1f6595274
Revises: cf1a5515013e
Create Date: 2024-04-08 10:51:19.284467

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '9dc1f6595274'
down_revision: Union[str, Sequence[str], None] = 'cf1a5515013e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column(
        'order_items',
        'quantity',
        existing_type=sa.Integer(),
        type_=sa.BigInteger(),
        existing_nullable=False,
    )
    op.execute("UPDATE products SET sku = upper(sku)")


def downgrade() -> None:
    """Downgrade schema."""
    # The upper-casing of skus is not reversed: the original case is gone.
    op.alter_column(
        'order_items',
        'quantity',
        existing_type=sa.BigInteger(),
        type_=sa.Integer(),
        existing_nullable=False,
    )
