"""notification timestamps as timestamptz; users.notify_by_email

Revision ID: 0039
Revises: 0038
Create Date: 2024-02-13 15:02:44.371592

"""
import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("created_at", "read_at"):
        op.alter_column(  # expect: AS105
            "notifications",
            column,
            existing_type=sa.DateTime(),
            type_=sa.DateTime(timezone=True),
        )
    # Catalog-only by itself, but users stays locked while notifications is rewritten.
    op.add_column(  # expect: AS405
        "users",
        sa.Column("notify_by_email", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "notify_by_email")  # expect: safe
    for column in ("read_at", "created_at"):
        op.alter_column(  # expect: AS105
            "notifications",
            column,
            existing_type=sa.DateTime(timezone=True),
            type_=sa.DateTime(),
        )
