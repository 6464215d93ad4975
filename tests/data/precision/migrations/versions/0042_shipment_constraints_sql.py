"""shipment constraints, written in SQL

Revision ID: 0042
Revises: 0041
Create Date: 2024-03-18 14:09:31.204477

"""
import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(  # expect: AS109
        "ALTER TABLE shipments ADD CONSTRAINT ck_shipments_carrier CHECK (carrier <> '')"
    )
    op.execute(  # expect: AS110
        "ALTER TABLE shipments ADD CONSTRAINT uq_shipments_tracking "
        "UNIQUE (carrier, tracking_number)"
    )
    op.execute(  # expect: AS106
        "CREATE UNIQUE INDEX ix_shipments_order_carrier ON shipments (order_id, carrier)"
    )
    # Wider, but the USING expression recomputes every value: a rewrite.
    op.alter_column(  # expect: AS105
        "shipments",
        "tracking_number",
        existing_type=sa.String(64),
        type_=sa.String(128),
        postgresql_using="upper(tracking_number)",
    )
    op.execute("ALTER TABLE shipments ADD COLUMN label_id uuid NOT NULL")  # expect: AS101


def downgrade() -> None:
    op.drop_column("shipments", "label_id")  # expect: safe
    op.alter_column(  # expect: AS105, AS204
        "shipments", "tracking_number", existing_type=sa.String(128), type_=sa.String(64)
    )
    op.execute("DROP INDEX ix_shipments_order_carrier")  # expect: AS107
    op.execute(  # expect: safe
        "ALTER TABLE shipments DROP CONSTRAINT uq_shipments_tracking"
    )
    op.execute("ALTER TABLE shipments DROP CONSTRAINT ck_shipments_carrier")  # expect: safe
