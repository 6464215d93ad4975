"""products.updated_at, kept current by a trigger

Revision ID: 0031
Revises: 0030
Create Date: 2023-11-20 14:51:26.390012

"""
import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(  # expect: safe
        "products", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(  # expect: safe
        """
        CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(  # expect: AS121
        "CREATE TRIGGER products_touch_updated_at BEFORE UPDATE ON products "
        "FOR EACH ROW EXECUTE FUNCTION touch_updated_at()"
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")  # expect: safe
    op.execute("DROP TRIGGER products_touch_updated_at ON products")  # expect: safe
    op.execute("DROP FUNCTION touch_updated_at()")  # expect: safe
    op.drop_column("products", "updated_at")  # expect: safe
