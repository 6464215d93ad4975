"""Create a table; the downgrade drops it (a rollback) and an older table (not a rollback).

Revision ID: a3_rollback_drop_table
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a3_rollback_drop_table"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit_events", sa.Column("id", sa.BigInteger(), primary_key=True))
    op.create_index("ix_audit_events_id", "audit_events", ["id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_id", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("legacy_events")
