"""index order references of payments, shipments and invoices

Revision ID: 0010
Revises: 0009
Create Date: 2023-06-02 10:20:03.761201

"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("payments", "shipments", "invoices")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_order_id", table, ["order_id"])  # expect: AS106, AS405


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for table in reversed(TABLES):
            op.drop_index(  # expect: safe
                f"ix_{table}_order_id", table_name=table, postgresql_concurrently=True
            )
