"""initial schema: users, merchants, products, orders, order items, payments

Revision ID: 0001
Revises:
Create Date: 2023-03-01 09:12:44.201337

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ORDER_STATUS = postgresql.ENUM(name="order_status", create_type=False)


def upgrade() -> None:
    op.execute("CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled')")  # expect: safe
    op.create_table(  # expect: safe
        "users",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("legacy_username", sa.String(64), nullable=True),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)  # expect: safe
    op.create_table(  # expect: safe
        "merchants",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(100), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
    )
    op.create_table(  # expect: safe
        "products",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("merchant_id", sa.BigInteger(), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("weight", sa.Numeric(8, 2), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_products_merchant_id", "products", ["merchant_id"])  # expect: safe
    op.create_table(  # expect: safe
        "orders",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", ORDER_STATUS, nullable=False, server_default="pending"),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(  # expect: safe
        "order_items",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("product_id", sa.BigInteger(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(10, 2), nullable=False),
    )
    op.create_table(  # expect: safe
        "payments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_ref", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("payments")  # expect: safe
    op.drop_table("order_items")  # expect: safe
    op.drop_table("orders")  # expect: safe
    op.drop_table("products")  # expect: safe
    op.drop_table("merchants")  # expect: safe
    op.drop_table("users")  # expect: safe
    op.execute("DROP TYPE order_status")  # expect: safe
