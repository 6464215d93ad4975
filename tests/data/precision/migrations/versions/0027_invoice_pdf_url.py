"""invoices.pdf_url, added under an explicit table lock

Revision ID: 0027
Revises: 0026
Create Date: 2023-10-30 09:09:44.503386

"""
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE")  # expect: AS115
    op.execute("ALTER TABLE invoices ADD COLUMN pdf_url text")  # expect: safe
    op.execute("LOCK TABLE invoices IN ACCESS SHARE MODE")  # expect: safe


def downgrade() -> None:
    op.drop_column("invoices", "pdf_url")  # expect: safe
