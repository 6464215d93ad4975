"""Index built concurrently on an existing table; the downgrade drops it without CONCURRENTLY.

Revision ID: a1_rollback_drop_index
Revises:
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "a1_rollback_drop_index"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_orders_created_at", "orders", ["created_at"], postgresql_concurrently=True
        )


def downgrade() -> None:
    # Rolls back this revision's own index, but orders is an existing, busy table: a plain
    # DROP INDEX takes ACCESS EXCLUSIVE on it all the same.
    op.drop_index("ix_orders_created_at", table_name="orders")
