"""reviews: helpful votes, wider rating, unique per product and user, body required

Revision ID: 0034
Revises: 0033
Create Date: 2023-12-12 16:20:09.554921

"""
import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.add_column(  # expect: safe
            sa.Column("helpful_votes", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.alter_column(  # expect: AS105
            "rating", existing_type=sa.SmallInteger(), type_=sa.Integer()
        )
        batch_op.create_index("ix_reviews_created_at", ["created_at"])  # expect: AS106
        batch_op.create_unique_constraint(  # expect: AS110
            "uq_reviews_product_user", ["product_id", "user_id"]
        )
        batch_op.drop_column("legacy_score")  # expect: AS301
    # The models still declare reviews.body nullable.
    op.execute("ALTER TABLE reviews ALTER COLUMN body SET NOT NULL")  # expect: AS104, AS206


def downgrade() -> None:
    op.execute("ALTER TABLE reviews ALTER COLUMN body DROP NOT NULL")  # expect: safe
    with op.get_context().autocommit_block():
        op.drop_index(  # expect: safe
            "ix_reviews_created_at", table_name="reviews", postgresql_concurrently=True
        )
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.add_column(  # expect: safe
            sa.Column("legacy_score", sa.Float(), nullable=True)
        )
        batch_op.drop_constraint(  # expect: safe
            "uq_reviews_product_user", type_="unique"
        )
        batch_op.alter_column(  # expect: AS105, AS204
            "rating", existing_type=sa.Integer(), type_=sa.SmallInteger()
        )
        batch_op.drop_column("helpful_votes")  # expect: safe
