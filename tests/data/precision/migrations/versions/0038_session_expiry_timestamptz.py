"""sessions.expires_at as timestamptz (the session time zone is UTC: no rewrite)

Revision ID: 0038
Revises: 0037
Create Date: 2024-02-12 10:30:19.640825

"""
import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL timezone = 'UTC'")  # expect: safe
    op.alter_column(  # expect: safe
        "sessions",
        "expires_at",
        existing_type=sa.DateTime(),
        type_=sa.DateTime(timezone=True),
        existing_nullable=False,
    )


def downgrade() -> None:
    op.execute("SET LOCAL timezone = 'UTC'")  # expect: safe
    op.alter_column(  # expect: safe
        "sessions",
        "expires_at",
        existing_type=sa.DateTime(timezone=True),
        type_=sa.DateTime(),
        existing_nullable=False,
    )
