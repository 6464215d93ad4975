"""attach the 2025 partition: the bound CHECK validated in 0029 spares the scan

Revision ID: 0030
Revises: 0029
Create Date: 2023-11-08 06:30:00.000000

"""
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(  # expect: safe
        "ALTER TABLE page_views ATTACH PARTITION page_views_2025 "
        "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    )
    op.drop_constraint("page_views_2025_bound", "page_views_2025", type_="check")  # expect: safe


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(  # expect: safe
            "ALTER TABLE page_views DETACH PARTITION page_views_2025 CONCURRENTLY"
        )
    op.create_check_constraint(  # expect: safe
        "page_views_2025_bound",
        "page_views_2025",
        "viewed_at IS NOT NULL AND viewed_at >= '2025-01-01' AND viewed_at < '2026-01-01'",
        postgresql_not_valid=True,
    )
