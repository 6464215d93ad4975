"""add user phone, product sku and a unique email index

Revision ID: f614dd44ae78
Revises: 3fed7f4c50d9
Create Date: 2024-03-01 11:02:47.095316

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'f614dd44ae78'
down_revision: Union[str, Sequence[str], None] = '3fed7f4c50d9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable columns without a default: a catalog-only change, no table rewrite.
    op.add_column('users', sa.Column('phone', sa.String(length=32), nullable=True))
    op.add_column('products', sa.Column('sku', sa.String(length=64), nullable=True))

    # users is large and hot: build the index without blocking writes.
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    with op.get_context().autocommit_block():
        op.create_index(
            'ix_users_email',
            'users',
            ['email'],
            unique=True,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.get_context().autocommit_block():
        op.drop_index(
            'ix_users_email',
            table_name='users',
            postgresql_concurrently=True,
        )
    op.drop_column('products', 'sku')
    op.drop_column('users', 'phone')
