"""Calendar tables: partner platforms, specials, their product line-up and planned deals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime, utcnow


class Platform(Base):
    """A partner shopping platform a special is co-broadcast on (or none: our own site)."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    name_ko: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(200), default="")


class Special(Base):
    """One live-commerce broadcast in the season's calendar."""

    __tablename__ = "specials"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("status IN ('scheduled', 'live', 'ended', 'cancelled')", name="status"),
        Index("ix_specials_starts_at", "starts_at"),
        Index("ix_specials_host_id", "host_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Natural key of seeded specials (``kmas-01`` …), so seeding twice adds nothing.
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"))
    channel: Mapped[str] = mapped_column(String(40), default="studio-1")
    pinned_product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    #: Optimistic concurrency: every write bumps it; PATCH with a stale one gets 409/412.
    version: Mapped[int] = mapped_column(Integer, default=1)
    went_live_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set once by the runner's reminder job (claimed conditionally); cleared when the start moves.
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SpecialProduct(Base):
    """A product in a special's line-up, in presentation order."""

    __tablename__ = "special_products"

    special_id: Mapped[int] = mapped_column(
        ForeignKey("specials.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PlannedDeal(Base):
    """A flash deal planned in the calendar, started by the runner at its offset."""

    __tablename__ = "planned_deals"
    __table_args__ = (
        CheckConstraint("discount_pct BETWEEN 1 AND 50", name="discount_pct"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    special_id: Mapped[int] = mapped_column(ForeignKey("specials.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    offset_s: Mapped[int] = mapped_column(Integer)
    discount_pct: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    per_buyer_limit: Mapped[int] = mapped_column(Integer, default=5)
    #: The flash deal it became, once started (idempotence of the runner's job).
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("flash_deals.id"))
    #: Claimed by the runner (``WHERE started_at IS NULL``) so two instances start it once.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SpecialReminder(Base):
    """A viewer asked to be reminded (over the realtime socket) before a special starts."""

    __tablename__ = "special_reminders"

    special_id: Mapped[int] = mapped_column(
        ForeignKey("specials.id", ondelete="CASCADE"), primary_key=True
    )
    #: The session's viewer key (``user:<id>`` or a random viewer id), never shown to others.
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
