"""validate the 2025 bound; attach the 2024 partition

Revision ID: 0029
Revises: 0028
Create Date: 2023-11-07 06:30:00.000000

"""
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(  # expect: safe
        "ALTER TABLE page_views_2025 VALIDATE CONSTRAINT page_views_2025_bound"
    )
    op.execute(  # expect: AS119
        "ALTER TABLE page_views ATTACH PARTITION page_views_2024 "
        "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE page_views DETACH PARTITION page_views_2024")  # expect: AS120
