"""audit trigger and totals view on orders, with a lock_timeout

Revision ID: 0032
Revises: 0031
Create Date: 2023-11-21 10:03:58.912377

"""
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '3s'")  # expect: safe
    op.execute(  # expect: safe
        """
        CREATE OR REPLACE FUNCTION audit_order_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO audit_log (actor_id, action, payload)
            VALUES (NULL, 'order_' || lower(TG_OP), to_jsonb(NEW));
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(  # expect: safe
        "CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION audit_order_change()"
    )
    op.execute(  # expect: safe
        "CREATE OR REPLACE VIEW order_totals AS "
        "SELECT user_id, count(*) AS orders, sum(total) AS total FROM orders GROUP BY user_id"
    )


def downgrade() -> None:
    op.execute("DROP VIEW order_totals")  # expect: safe
    op.execute("DROP TRIGGER orders_audit ON orders")  # expect: AS121
    op.execute("DROP FUNCTION audit_order_change()")  # expect: safe
