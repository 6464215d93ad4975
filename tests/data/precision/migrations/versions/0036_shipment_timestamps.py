"""shipment timestamps and carrier index

Revision ID: 0036
Revises: 0035
Create Date: 2024-01-15 13:37:00.902118

"""
from alembic import op

from bazaar.migration_helpers import add_timestamps

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

TABLE = "shipments"


def upgrade() -> None:
    add_timestamps(TABLE)  # expect: safe
    op.create_index(f"ix_{TABLE}_carrier", TABLE, ["carrier"])  # expect: AS106
    # The f prefix is missing: PostgreSQL receives the braces.
    op.execute("COMMENT ON COLUMN {TABLE}.carrier IS 'carrier code'")  # expect: AS901


def downgrade() -> None:  # expect: AS603
    pass
