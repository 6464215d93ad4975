"""users.display_name required, phone numbers unique

Revision ID: 0018
Revises: 0017
Create Date: 2023-07-25 11:36:48.026133

"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(  # expect: AS104
        "users", "display_name", existing_type=sa.String(100), nullable=False
    )
    op.create_unique_constraint("uq_users_phone", "users", ["phone"])  # expect: AS110


def downgrade() -> None:
    op.drop_constraint("uq_users_phone", "users", type_="unique")  # expect: safe
    op.alter_column(  # expect: safe
        "users", "display_name", existing_type=sa.String(100), nullable=True
    )
