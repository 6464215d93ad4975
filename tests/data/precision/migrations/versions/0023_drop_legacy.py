"""drop legacy user columns and the legacy_reports table

Revision ID: 0023
Revises: 0022
Create Date: 2023-09-18 16:31:02.440918

"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop = op.drop_column
    drop("users", "legacy_username")  # expect: AS301
    # The models still map users.phone: this should have waited for the next release.
    op.drop_column("users", "phone")  # expect: AS301, AS205
    op.drop_table("legacy_reports")  # expect: AS302


def downgrade() -> None:
    op.create_table(  # expect: safe
        "legacy_reports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=True),
    )
    op.add_column("users", sa.Column("phone", sa.String(32), nullable=True))  # expect: safe
    op.add_column(  # expect: safe
        "users", sa.Column("legacy_username", sa.String(64), nullable=True)
    )
