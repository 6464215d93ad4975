"""country name index

Revision ID: 0040
Revises: 0039
Create Date: 2024-03-04 08:12:55.208801

"""
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # alembic-safety: ignore[AS106] countries is a 250-row lookup table, the build takes ms
    op.create_index("ix_countries_name", "countries", ["name"])  # expect: safe


def downgrade() -> None:
    # alembic-safety: ignore[AS107] countries is a 250-row lookup table nobody writes to
    op.drop_index("ix_countries_name", table_name="countries")  # expect: safe
