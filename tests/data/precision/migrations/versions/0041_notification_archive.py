"""move notifications to an archive table

Revision ID: 0041
Revises: 0040
Create Date: 2024-03-11 07:15:42.665019

"""
import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(  # expect: safe
        "notifications_archive",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(  # expect: AS304
        "WITH moved AS (DELETE FROM notifications RETURNING *) "
        "INSERT INTO notifications_archive SELECT * FROM moved"
    )


def downgrade() -> None:
    op.execute(  # expect: safe
        "INSERT INTO notifications SELECT * FROM notifications_archive"
    )
    op.drop_table("notifications_archive")  # expect: safe
