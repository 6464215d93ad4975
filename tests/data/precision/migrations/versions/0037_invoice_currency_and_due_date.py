"""invoices: currency (backfilled) and due date

Revision ID: 0037
Revises: 0036
Create Date: 2024-02-01 09:48:27.113370

"""
import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("currency", sa.String(3), nullable=True))  # expect: safe
    # Holds the ACCESS EXCLUSIVE lock of the ADD COLUMN during the whole UPDATE.
    op.execute(  # expect: AS502, AS504
        "UPDATE invoices SET currency = orders.currency FROM orders "
        "WHERE orders.id = invoices.order_id AND invoices.currency IS NULL"
    )
    op.add_column("invoices", sa.Column("due_date", sa.Date(), nullable=True))  # expect: AS604


def downgrade() -> None:
    # Forgets due_date: a second upgrade fails on "column already exists".
    op.drop_column("invoices", "currency")  # expect: safe
