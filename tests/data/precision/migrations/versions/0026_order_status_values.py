"""order statuses 'refunded' and 'on_hold'

Revision ID: 0026
Revises: 0025
Create Date: 2023-10-17 18:26:03.781299

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

ORDER_STATUS = postgresql.ENUM(name="order_status", create_type=False)


def upgrade() -> None:
    op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")  # expect: safe
    op.execute(  # expect: AS404, AS502
        "UPDATE orders SET status = 'refunded' "
        "WHERE id IN (SELECT order_id FROM payments WHERE status = 'refunded')"
    )
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'on_hold'")  # expect: safe
    order_holds = op.create_table(  # expect: safe
        "order_holds",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", ORDER_STATUS, nullable=False, server_default="on_hold"),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.bulk_insert(  # expect: safe
        order_holds, [{"id": 1, "order_id": 1, "status": "on_hold", "reason": "fraud check"}]
    )


def downgrade() -> None:
    # PostgreSQL cannot remove enum values; the new table goes.
    op.drop_table("order_holds")  # expect: safe
