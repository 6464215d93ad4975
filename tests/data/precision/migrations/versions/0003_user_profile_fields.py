"""user profile fields

Revision ID: 0003
Revises: 0002
Create Date: 2023-04-02 10:01:12.004512

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(  # expect: safe
        "users", sa.Column("locale", sa.String(10), server_default="en", nullable=False)
    )
    op.add_column("users", sa.Column("signup_source", sa.Text(), nullable=True))  # expect: safe
    op.add_column(  # expect: safe
        "users",
        sa.Column(
            "last_login_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    op.add_column(  # expect: safe
        "users", sa.Column("is_staff", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(  # expect: safe
        "users",
        sa.Column(
            "preferences",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.alter_column(  # expect: safe
        "users", "email", existing_type=sa.String(255), comment="login e-mail, lower-cased"
    )
    op.create_table_comment("users", "registered customers")  # expect: safe


def downgrade() -> None:
    op.drop_table_comment("users", existing_comment="registered customers")  # expect: safe
    op.alter_column(  # expect: safe
        "users",
        "email",
        existing_type=sa.String(255),
        comment=None,
        existing_comment="login e-mail, lower-cased",
    )
    op.drop_column("users", "preferences")  # expect: safe
    op.drop_column("users", "is_staff")  # expect: safe
    op.drop_column("users", "last_login_at")  # expect: safe
    op.drop_column("users", "signup_source")  # expect: safe
    op.drop_column("users", "locale")  # expect: safe
