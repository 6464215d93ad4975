"""widen product columns; stock becomes bigint

Revision ID: 0006
Revises: 0005
Create Date: 2023-05-03 11:02:17.338410

"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(  # expect: safe
        "products",
        "name",
        existing_type=sa.String(100),
        type_=sa.String(200),
        existing_nullable=False,
    )
    op.alter_column(  # expect: safe
        "products", "description", existing_type=sa.String(500), type_=sa.Text()
    )
    op.alter_column(  # expect: safe
        "products", "price", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(14, 2)
    )
    op.execute("ALTER TABLE products ALTER COLUMN weight TYPE numeric(10, 2)")  # expect: safe
    op.alter_column(  # expect: AS105
        "products", "stock", existing_type=sa.Integer(), type_=sa.BigInteger()
    )


def downgrade() -> None:
    # Going back narrows every column again: each one rewrites and may not fit.
    op.alter_column(  # expect: AS105, AS204
        "products", "stock", existing_type=sa.BigInteger(), type_=sa.Integer()
    )
    op.alter_column(  # expect: AS105, AS204
        "products", "weight", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(8, 2)
    )
    op.alter_column(  # expect: AS105, AS204
        "products", "price", existing_type=sa.Numeric(14, 2), type_=sa.Numeric(10, 2)
    )
    op.alter_column(  # expect: AS105, AS204
        "products", "description", existing_type=sa.Text(), type_=sa.String(500)
    )
    op.alter_column(  # expect: AS105, AS204
        "products",
        "name",
        existing_type=sa.String(200),
        type_=sa.String(100),
        existing_nullable=False,
    )
