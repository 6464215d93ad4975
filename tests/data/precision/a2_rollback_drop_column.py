"""Add a column; the downgrade drops it (a rollback) and another column (not a rollback).

Revision ID: a2_rollback_drop_column
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a2_rollback_drop_column"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "note")
    op.drop_column("orders", "status")
