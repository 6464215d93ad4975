"""The bazaar models, as the application code stands at the head revision.

Deliberately stale in three places, as a release in the middle of a deploy would be:
``User.phone`` and ``Merchant.country`` are still mapped although revisions 0023 and 0022
drop and rename them, and ``Review.body`` is still declared nullable although 0034 makes
the column NOT NULL.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


ORDER_STATUS = postgresql.ENUM(
    "pending", "paid", "shipped", "cancelled", "refunded", "on_hold", name="order_status"
)


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"comment": "registered customers"}

    id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), comment="login e-mail, lower-cased")
    password_hash: Mapped[str] = mapped_column(sa.String(128))
    display_name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[Optional[str]] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(10), server_default="en")
    signup_source: Mapped[Optional[str]] = mapped_column(sa.Text())
    last_login_at: Mapped[datetime.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    is_staff: Mapped[bool] = mapped_column(sa.Boolean(), server_default=sa.false())
    notify_by_email: Mapped[bool] = mapped_column(sa.Boolean(), server_default=sa.true())
    preferences: Mapped[dict[str, Any]] = mapped_column(
        postgresql.JSONB(), server_default=sa.text("'{}'::jsonb")
    )


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[Optional[str]] = mapped_column(sa.String(100), unique=True)
    country: Mapped[str] = mapped_column(sa.String(2))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[Optional[str]] = mapped_column(sa.Text())
    sku: Mapped[str] = mapped_column(sa.String(64))
    price: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(14, 2))
    weight: Mapped[Optional[decimal.Decimal]] = mapped_column(sa.Numeric(10, 2))
    stock: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    updated_at: Mapped[Optional[datetime.datetime]] = mapped_column(sa.DateTime(timezone=True))


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(ORDER_STATUS, server_default="pending")
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="EUR")
    total: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(12, 2))
    note: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), index=True
    )
    tracking_token: Mapped[uuid.UUID] = mapped_column(
        postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()")
    )
    shard_key: Mapped[Optional[float]] = mapped_column(sa.Float(), server_default=sa.text("random()"))
    channel: Mapped[str] = mapped_column(sa.String(20))
    placed_at: Mapped[Optional[datetime.datetime]] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.text("now()")
    )
    gift_message: Mapped[Optional[str]] = mapped_column(sa.Text())
    number: Mapped[int] = mapped_column(sa.BigInteger(), sa.Identity(start=100000))


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (sa.UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),)

    id: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.BigInteger(), index=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger())
    rating: Mapped[int] = mapped_column(sa.Integer())
    body: Mapped[Optional[str]] = mapped_column(sa.Text())
    helpful_votes: Mapped[int] = mapped_column(sa.Integer(), server_default="0")
    created_at: Mapped[datetime.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), index=True
    )


metadata = Base.metadata
