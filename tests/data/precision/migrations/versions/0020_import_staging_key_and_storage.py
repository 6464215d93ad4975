"""import_staging gets a primary key and becomes a logged table on the fast tablespace

Revision ID: 0020
Revises: 0019
Create Date: 2023-08-09 08:58:30.002217

"""
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_primary_key("pk_import_staging", "import_staging", ["id"])  # expect: AS111
    op.execute("ALTER TABLE import_staging SET LOGGED")  # expect: AS116
    op.execute("ALTER TABLE import_staging SET TABLESPACE fast_ssd")  # expect: AS117


def downgrade() -> None:
    op.execute("ALTER TABLE import_staging SET TABLESPACE pg_default")  # expect: AS117
    op.execute("ALTER TABLE import_staging SET UNLOGGED")  # expect: AS116
    op.drop_constraint("pk_import_staging", "import_staging", type_="primary")  # expect: safe
