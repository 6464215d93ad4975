"""rename merchants.country to country_code and coupons to promo_codes

Revision ID: 0022
Revises: 0021
Create Date: 2023-09-04 10:44:19.884710

"""
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(  # expect: AS201, AS205
        "merchants", "country", new_column_name="country_code"
    )
    op.rename_table("coupons", "promo_codes")  # expect: AS202


def downgrade() -> None:
    op.rename_table("promo_codes", "coupons")  # expect: AS202
    op.alter_column(  # expect: AS201
        "merchants", "country_code", new_column_name="country"
    )
