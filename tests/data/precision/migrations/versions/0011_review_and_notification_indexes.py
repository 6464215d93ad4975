"""review, notification and session indexes

Revision ID: 0011
Revises: 0010
Create Date: 2023-06-14 15:03:27.905561

"""
from alembic import op

from bazaar.migration_helpers import create_index_concurrently, drop_index_concurrently

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _index_concurrently(name: str, table: str, columns: list[str]) -> None:
    with op.get_context().autocommit_block():
        op.create_index(name, table, columns, postgresql_concurrently=True)


def upgrade() -> None:
    _index_concurrently("ix_reviews_product_id", "reviews", ["product_id"])  # expect: safe
    create_index_concurrently(  # expect: safe
        "ix_notifications_user_id_unread",
        "notifications",
        ["user_id"],
        postgresql_where="read_at IS NULL",
    )
    create_index = op.create_index
    create_index("ix_sessions_expires_at", "sessions", ["expires_at"])  # expect: AS106


def downgrade() -> None:
    drop_index_concurrently("ix_sessions_expires_at", "sessions")  # expect: safe
    drop_index_concurrently("ix_notifications_user_id_unread", "notifications")  # expect: safe
    drop_index_concurrently("ix_reviews_product_id", "reviews")  # expect: safe
