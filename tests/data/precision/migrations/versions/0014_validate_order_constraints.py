"""validate the order constraints of 0013 (SHARE UPDATE EXCLUSIVE only)

Revision ID: 0014
Revises: 0013
Create Date: 2023-07-04 09:05:13.413092

"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id_users")  # expect: safe
    op.execute(  # expect: safe
        sa.text("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total_non_negative")
    )
    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_currency_not_null")  # expect: safe


def downgrade() -> None:
    # Nothing to undo: a validated constraint is what 0013 meant all along, and 0013's
    # downgrade drops it.
    pass
