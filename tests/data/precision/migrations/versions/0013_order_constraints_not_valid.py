"""order constraints, added NOT VALID

Revision ID: 0013
Revises: 0012
Create Date: 2023-07-03 09:30:45.007211

"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key(  # expect: safe
        "fk_orders_user_id_users",
        "orders",
        "users",
        ["user_id"],
        ["id"],
        postgresql_not_valid=True,
    )
    op.create_check_constraint(  # expect: safe
        "ck_orders_total_non_negative", "orders", "total >= 0", postgresql_not_valid=True
    )
    op.create_check_constraint(  # expect: safe
        "ck_orders_currency_not_null",
        "orders",
        "currency IS NOT NULL",
        postgresql_not_valid=True,
    )


def downgrade() -> None:
    op.drop_constraint("ck_orders_currency_not_null", "orders", type_="check")  # expect: safe
    op.drop_constraint("ck_orders_total_non_negative", "orders", type_="check")  # expect: safe
    op.drop_constraint("fk_orders_user_id_users", "orders", type_="foreignkey")  # expect: safe
