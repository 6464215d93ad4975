"""page_views: bound CHECK for the 2025 partition, detach 2022 concurrently

Revision ID: 0028
Revises: 0027
Create Date: 2023-11-06 06:30:00.000000

"""
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(  # expect: safe
        "page_views_2025_bound",
        "page_views_2025",
        "viewed_at IS NOT NULL AND viewed_at >= '2025-01-01' AND viewed_at < '2026-01-01'",
        postgresql_not_valid=True,
    )
    with op.get_context().autocommit_block():
        op.execute(  # expect: safe
            "ALTER TABLE page_views DETACH PARTITION page_views_2022 CONCURRENTLY"
        )


def downgrade() -> None:
    op.execute(  # expect: AS119
        "ALTER TABLE page_views ATTACH PARTITION page_views_2022 "
        "FOR VALUES FROM ('2022-01-01') TO ('2023-01-01')"
    )
    op.drop_constraint("page_views_2025_bound", "page_views_2025", type_="check")  # expect: safe
