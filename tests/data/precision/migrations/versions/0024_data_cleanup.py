"""data cleanup before the autumn release

Revision ID: 0024
Revises: 0023
Create Date: 2023-10-02 07:59:48.120045

"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # TRUNCATE's ACCESS EXCLUSIVE lock on audit_log is held while all the rest runs.
    op.execute("DELETE FROM sessions")  # expect: AS304, AS504
    op.execute("TRUNCATE audit_log")  # expect: AS303
    op.execute("UPDATE products SET sku = upper(sku)")  # expect: AS501
    op.execute("UPDATE orders SET currency = 'EUR' WHERE currency = ''")  # expect: AS502
    op.execute(  # expect: AS503
        "DELETE FROM notifications WHERE read_at < now() - interval '90 days'"
    )
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM webhook_deliveries"))  # expect: AS304
    op.get_bind().execute(sa.text("UPDATE reviews SET body = trim(body)"))  # expect: AS501
    execute = op.execute
    execute(sa.text("UPDATE users SET locale = 'en' WHERE locale = ''"))  # expect: AS502
    op.execute(  # expect: AS501, AS503
        """
        UPDATE payments SET status = lower(status);
        DELETE FROM payments WHERE status = 'void';
        """
    )
    countries = sa.table("countries", sa.column("code", sa.String), sa.column("name", sa.String))
    op.bulk_insert(countries, [{"code": "XK", "name": "Kosovo"}])  # expect: safe


def downgrade() -> None:
    raise NotImplementedError("irreversible: the deleted rows are gone")  # expect: AS603
