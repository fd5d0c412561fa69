"""Checkout tables: products, flash deals, orders and their lines. Money is integer KRW."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("category IN ('food', 'beauty', 'living', 'fashion')", name="category"),
        CheckConstraint("price > 0", name="price"),
        CheckConstraint("stock >= 0", name="stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120), default="")
    category: Mapped[str] = mapped_column(String(16))
    maker: Mapped[str] = mapped_column(String(80), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    #: Bumped by every edit; a write based on an older one is refused (If-Match / version).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Set when an operator retires the product: it leaves the catalogue and line-ups.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: File name of the product's picture under ``<data_dir>/product-images/``.
    image: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FlashDeal(Base):
    """A time-limited discount on one product during one special."""

    __tablename__ = "flash_deals"
    __table_args__ = (
        CheckConstraint("discount_pct BETWEEN 1 AND 50", name="discount_pct"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("sold >= 0 AND sold <= quantity", name="sold"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_flash_deals_special_id", "special_id"),
        # At most one open deal per product, kept by the database under any race.
        Index(
            "uq_flash_deals_open_product",
            "product_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    special_id: Mapped[int] = mapped_column(ForeignKey("specials.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    discount_pct: Mapped[int] = mapped_column(Integer)
    original_price: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    quantity: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    per_buyer_limit: Mapped[int] = mapped_column(Integer, default=5)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DealBuyer(Base):
    """Units one buyer holds in one deal: the per-buyer limit across tabs and retries."""

    __tablename__ = "deal_buyers"
    __table_args__ = (CheckConstraint("units >= 0", name="units"),)

    deal_id: Mapped[int] = mapped_column(
        ForeignKey("flash_deals.id", ondelete="CASCADE"), primary_key=True
    )
    buyer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('reserved', 'paid', 'fulfilled', 'cancelled', 'expired')", name="status"
        ),
        Index("ix_orders_special_id", "special_id"),
        Index("ix_orders_status_hold", "status", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``<buyer key>:<Idempotency-Key>``: a retry from the same buyer finds the same order.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    buyer_key: Mapped[str] = mapped_column(String(64))
    special_id: Mapped[int | None] = mapped_column(ForeignKey("specials.id"))
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    buyer_name: Mapped[str] = mapped_column(String(60))
    buyer_phone: Mapped[str] = mapped_column(String(20))
    buyer_address: Mapped[str] = mapped_column(String(300))
    total: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(30), default="bank_transfer")
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    hold_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_order_lines_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    list_price: Mapped[int] = mapped_column(Integer)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("flash_deals.id"))
