"""merchants.slug unique, through an index built concurrently

Revision ID: 0019
Revises: 0018
Create Date: 2023-08-01 15:27:11.650033

"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(  # expect: safe
            "uq_merchants_slug",
            "merchants",
            ["slug"],
            unique=True,
            postgresql_concurrently=True,
        )
    op.execute(  # expect: safe
        "ALTER TABLE merchants ADD CONSTRAINT uq_merchants_slug UNIQUE USING INDEX uq_merchants_slug"
    )


def downgrade() -> None:
    # The constraint owns the index since USING INDEX: dropping it drops both.
    op.drop_constraint("uq_merchants_slug", "merchants", type_="unique")  # expect: safe
