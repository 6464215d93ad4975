"""drop users.phone and rename products.name to title

Revision ID: 3f1181dae515
Revises: 28110a4e03a9
Create Date: 2024-06-17 13:48:30.551604

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3f1181dae515'
down_revision: Union[str, Sequence[str], None] = '28110a4e03a9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_column('users', 'phone')
    op.alter_column('products', 'name', new_column_name='title')


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column('products', 'title', new_column_name='name')
    op.add_column('users', sa.Column('phone', sa.String(length=32), nullable=True))
