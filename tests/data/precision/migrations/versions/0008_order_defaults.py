"""order defaults: currency defaults to EUR, note loses its default

Revision ID: 0008
Revises: 0007
Create Date: 2023-05-22 13:13:09.882014

"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(  # expect: safe
        "orders", "currency", existing_type=sa.String(3), server_default="EUR"
    )
    op.alter_column(  # expect: AS203
        "orders",
        "note",
        existing_type=sa.Text(),
        server_default=None,
        existing_server_default=sa.text("''"),
    )


def downgrade() -> None:
    op.alter_column(  # expect: safe
        "orders", "note", existing_type=sa.Text(), server_default=sa.text("''")
    )
    # The release that relied on the default may still be running while this rolls back.
    op.alter_column(  # expect: AS203
        "orders",
        "currency",
        existing_type=sa.String(3),
        server_default=None,
        existing_server_default="EUR",
    )
