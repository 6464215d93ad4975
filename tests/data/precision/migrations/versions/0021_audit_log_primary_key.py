"""audit_log primary key (adopting an index built concurrently) and storage maintenance

Revision ID: 0021
Revises: 0020
Create Date: 2023-08-15 22:04:51.319904

"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(  # expect: safe
            "audit_log_pkey", "audit_log", ["id"], unique=True, postgresql_concurrently=True
        )
    # audit_log.id is already NOT NULL, so adopting the index scans nothing.
    op.execute(  # expect: safe
        "ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_pkey"
    )
    op.execute("ALTER TABLE audit_log CLUSTER ON audit_log_pkey")  # expect: safe
    with op.get_context().autocommit_block():
        op.execute("VACUUM (ANALYZE) audit_log")  # expect: safe
        op.execute("REINDEX TABLE CONCURRENTLY orders")  # expect: safe
        op.execute("VACUUM FULL audit_log")  # expect: AS113
        op.execute("CLUSTER audit_log USING audit_log_pkey")  # expect: AS114
    op.execute("REINDEX INDEX ix_orders_created_at")  # expect: AS112


def downgrade() -> None:
    op.execute("ALTER TABLE audit_log SET WITHOUT CLUSTER")  # expect: safe
    op.drop_constraint("audit_log_pkey", "audit_log", type_="primary")  # expect: safe
