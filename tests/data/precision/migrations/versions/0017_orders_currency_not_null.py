"""orders.currency NOT NULL, proven by the CHECK validated in 0014

Revision ID: 0017
Revises: 0016
Create Date: 2023-07-18 10:10:10.101010

"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL 12+ skips the scan: ck_orders_currency_not_null proves there is no NULL.
    op.alter_column(  # expect: safe
        "orders", "currency", existing_type=sa.String(3), nullable=False
    )
    op.drop_constraint("ck_orders_currency_not_null", "orders", type_="check")  # expect: safe


def downgrade() -> None:
    op.alter_column(  # expect: safe
        "orders", "currency", existing_type=sa.String(3), nullable=True
    )
    op.create_check_constraint(  # expect: safe
        "ck_orders_currency_not_null",
        "orders",
        "currency IS NOT NULL",
        postgresql_not_valid=True,
    )
