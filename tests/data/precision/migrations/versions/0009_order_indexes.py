"""order indexes

Revision ID: 0009
Revises: 0008
Create Date: 2023-06-01 17:55:40.553120

"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_created_at", "orders", ["created_at"])  # expect: AS106
    with op.get_context().autocommit_block():
        op.create_index(  # expect: safe
            "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
        )
    op.create_index(  # expect: AS401
        "ix_orders_status", "orders", ["status"], postgresql_concurrently=True
    )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(  # expect: safe
            "ix_orders_status", table_name="orders", postgresql_concurrently=True
        )
        op.drop_index(  # expect: safe
            "ix_orders_user_id", table_name="orders", postgresql_concurrently=True
        )
    # The index of this revision, but on a busy table: the plain drop still takes
    # ACCESS EXCLUSIVE on orders.
    op.drop_index("ix_orders_created_at", table_name="orders")  # expect: AS107
