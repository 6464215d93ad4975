"""support tables: shipping, invoicing, sessions, logs, reviews, page views

Revision ID: 0002
Revises: 0001
Create Date: 2023-03-08 14:30:02.918211

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(  # expect: safe
        "shipments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("carrier", sa.String(50), nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(  # expect: safe
        "invoices",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(  # expect: safe
        "sessions",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    # An append-only log: no primary key, so nothing slows the inserts down.
    op.create_table(  # expect: safe
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(  # expect: safe
        "notifications",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
        sa.Column("read_at", sa.DateTime(), nullable=True),
    )
    op.create_table(  # expect: safe
        "reviews",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("legacy_score", sa.Float(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(  # expect: safe
        "coupons",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(  # expect: safe
        "countries",
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(  # expect: safe
        "courier_slots",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("courier_id", sa.BigInteger(), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
    )
    op.create_table(  # expect: safe
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(  # expect: safe
        "legacy_reports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=True),
    )
    # Bulk imports land here first; unlogged because it is rebuilt from the source files.
    op.create_table(  # expect: safe
        "import_staging",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        prefixes=["UNLOGGED"],
    )
    op.execute(  # expect: safe
        "CREATE TABLE page_views (id bigint NOT NULL, path text NOT NULL, "
        "viewed_at timestamptz NOT NULL) PARTITION BY RANGE (viewed_at)"
    )
    op.execute(  # expect: safe
        "CREATE TABLE page_views_2022 PARTITION OF page_views "
        "FOR VALUES FROM ('2022-01-01') TO ('2023-01-01')"
    )
    op.execute(  # expect: safe
        "CREATE TABLE page_views_2023 PARTITION OF page_views "
        "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')"
    )
    # Filled by the importer before they are attached.
    op.execute("CREATE TABLE page_views_2024 (LIKE page_views INCLUDING ALL)")  # expect: safe
    op.execute("CREATE TABLE page_views_2025 (LIKE page_views INCLUDING ALL)")  # expect: safe


def downgrade() -> None:
    op.execute("DROP TABLE page_views_2025")  # expect: safe
    op.execute("DROP TABLE page_views_2024")  # expect: safe
    op.execute("DROP TABLE page_views")  # expect: safe
    op.drop_table("import_staging")  # expect: safe
    op.drop_table("legacy_reports")  # expect: safe
    op.drop_table("webhook_deliveries")  # expect: safe
    op.drop_table("courier_slots")  # expect: safe
    op.drop_table("countries")  # expect: safe
    op.drop_table("coupons")  # expect: safe
    op.drop_table("reviews")  # expect: safe
    op.drop_table("notifications")  # expect: safe
    op.drop_table("audit_log")  # expect: safe
    op.drop_table("sessions")  # expect: safe
    op.drop_table("invoices")  # expect: safe
    op.drop_table("shipments")  # expect: safe
