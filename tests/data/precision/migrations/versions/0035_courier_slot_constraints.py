"""courier slots: no overlapping bookings per courier

Revision ID: 0035
Revises: 0034
Create Date: 2024-01-08 08:45:12.301466

"""
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # expect: safe
    op.create_exclude_constraint(  # expect: AS118
        "ex_courier_slots_no_overlap",
        "courier_slots",
        ("courier_id", "="),
        ("during", "&&"),
        using="gist",
    )
    # Copied from the MySQL version of the service: PostgreSQL has no MODIFY.
    op.execute(  # expect: AS901
        "ALTER TABLE courier_slots MODIFY COLUMN courier_id BIGINT NOT NULL"
    )


def downgrade() -> None:
    op.execute(  # expect: AS901
        "ALTER TABLE courier_slots MODIFY COLUMN courier_id BIGINT NULL"
    )
    op.drop_constraint("ex_courier_slots_no_overlap", "courier_slots")  # expect: safe
