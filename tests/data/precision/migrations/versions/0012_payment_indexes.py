"""payment indexes, meant to be built concurrently

Revision ID: 0012
Revises: 0011
Create Date: 2023-06-20 12:48:00.118934

"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(  # expect: AS401
        "CREATE INDEX CONCURRENTLY ix_payments_created_at ON payments (created_at)"
    )
    # The COMMIT hack relies on the driver not noticing the raw COMMIT. psycopg 3, this
    # project's driver (alembic.ini), sees the connection idle and sends BEGIN before the next
    # statement, so the build below still runs in a transaction block and fails.
    op.execute("COMMIT")  # expect: safe
    op.execute(  # expect: AS401
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_payments_provider_ref "
        "ON payments (provider, provider_ref)"
    )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        # Two statements in one string run as one implicit transaction: CONCURRENTLY fails.
        op.execute(  # expect: AS401
            "DROP INDEX CONCURRENTLY IF EXISTS ix_payments_provider_ref; "
            "DROP INDEX CONCURRENTLY IF EXISTS ix_payments_created_at"
        )
