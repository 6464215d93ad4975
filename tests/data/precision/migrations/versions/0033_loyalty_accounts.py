"""loyalty accounts (everything on a table created in this revision)

Revision ID: 0033
Revises: 0032
Create Date: 2023-12-04 11:11:41.027564

"""
import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(  # expect: safe
        "loyalty_accounts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(20), nullable=True),
    )
    op.add_column(  # expect: safe
        "loyalty_accounts", sa.Column("status", sa.String(20), nullable=False)
    )
    op.add_column(  # expect: safe
        "loyalty_accounts",
        sa.Column("card_token", sa.Text(), server_default=sa.text("gen_random_uuid()::text")),
    )
    op.create_index(  # expect: safe
        "ix_loyalty_accounts_tier", "loyalty_accounts", ["tier"]
    )
    op.create_unique_constraint(  # expect: safe
        "uq_loyalty_accounts_user_id", "loyalty_accounts", ["user_id"]
    )
    op.create_foreign_key(  # expect: safe
        "fk_loyalty_accounts_user_id_users", "loyalty_accounts", "users", ["user_id"], ["id"]
    )
    op.create_check_constraint(  # expect: safe
        "ck_loyalty_accounts_points", "loyalty_accounts", "points >= 0"
    )
    op.alter_column(  # expect: safe
        "loyalty_accounts", "points", existing_type=sa.Integer(), type_=sa.BigInteger()
    )
    op.alter_column(  # expect: safe
        "loyalty_accounts",
        "points",
        existing_type=sa.BigInteger(),
        nullable=False,
        server_default="0",
    )
    accounts = sa.table(
        "loyalty_accounts",
        sa.column("id", sa.BigInteger()),
        sa.column("user_id", sa.BigInteger()),
        sa.column("points", sa.BigInteger()),
        sa.column("status", sa.String(20)),
    )
    op.bulk_insert(  # expect: safe
        accounts, [{"id": 1, "user_id": 1, "points": 0, "status": "active"}]
    )
    op.execute("UPDATE loyalty_accounts SET tier = 'basic'")  # expect: safe
    op.execute(  # expect: safe
        "CREATE INDEX ix_loyalty_accounts_status ON loyalty_accounts (status)"
    )


def downgrade() -> None:
    op.drop_table("loyalty_accounts")  # expect: safe
