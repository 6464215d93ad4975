"""order item quantity as bigint, wider unit price

Revision ID: 0007
Revises: 0006
Create Date: 2023-05-04 09:41:55.120038

"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint")  # expect: AS105
    op.alter_column(  # expect: safe
        "order_items", "unit_price", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(14, 2)
    )


def downgrade() -> None:
    op.alter_column(  # expect: AS105, AS204
        "order_items", "unit_price", existing_type=sa.Numeric(14, 2), type_=sa.Numeric(10, 2)
    )
    op.alter_column(  # expect: AS105, AS204
        "order_items", "quantity", existing_type=sa.BigInteger(), type_=sa.Integer()
    )
