"""order tracking columns

Revision ID: 0004
Revises: 0003
Create Date: 2023-04-11 16:45:30.771020

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(  # expect: AS102
        "orders",
        sa.Column(
            "tracking_token",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
    )
    op.add_column(  # expect: AS102
        "orders", sa.Column("shard_key", sa.Float(), server_default=sa.text("random()"))
    )
    op.add_column("orders", sa.Column("channel", sa.String(20), nullable=False))  # expect: AS101
    op.add_column(  # expect: safe
        "orders",
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
    )
    op.add_column("orders", sa.Column("gift_message", sa.Text()))  # expect: safe
    op.add_column(  # expect: AS103
        "orders", sa.Column("number", sa.BigInteger(), sa.Identity(start=100000), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("orders", "number")  # expect: safe
    op.drop_column("orders", "gift_message")  # expect: safe
    op.drop_column("orders", "placed_at")  # expect: safe
    op.drop_column("orders", "channel")  # expect: safe
    op.drop_column("orders", "shard_key")  # expect: safe
    op.drop_column("orders", "tracking_token")  # expect: safe
