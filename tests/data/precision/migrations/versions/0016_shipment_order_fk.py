"""shipment -> order foreign key

Revision ID: 0016
Revises: 0015
Create Date: 2023-07-12 16:40:02.553809

"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key(  # expect: AS108
        "fk_shipments_order_id_orders", "shipments", "orders", ["order_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(  # expect: safe
        "fk_shipments_order_id_orders", "shipments", type_="foreignkey"
    )
