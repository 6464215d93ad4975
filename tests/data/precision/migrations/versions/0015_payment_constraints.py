"""payment constraints

Revision ID: 0015
Revises: 0014
Create Date: 2023-07-12 14:22:36.220488

"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key(  # expect: safe
        "fk_payments_order_id_orders",
        "payments",
        "orders",
        ["order_id"],
        ["id"],
        postgresql_not_valid=True,
    )
    # Validating in the same transaction keeps the lock of the add for the whole scan.
    op.execute(  # expect: AS402
        "ALTER TABLE payments VALIDATE CONSTRAINT fk_payments_order_id_orders"
    )
    op.create_check_constraint(  # expect: AS109
        "ck_payments_amount_positive", "payments", "amount > 0"
    )


def downgrade() -> None:
    op.drop_constraint("ck_payments_amount_positive", "payments", type_="check")  # expect: safe
    op.drop_constraint(  # expect: safe
        "fk_payments_order_id_orders", "payments", type_="foreignkey"
    )
