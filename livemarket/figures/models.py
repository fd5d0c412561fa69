"""The one table the figures need beyond orders and chat: audience samples per minute."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime


class SpecialMinute(Base):
    """The audience of one special in one minute: the most viewers seen, the likes so far.

    Orders, revenue and chat are counted from their own tables (the durable truth); only
    what lives in memory or Redis while a show runs (viewer counts, like totals) is
    sampled here. Rows are upserted with the larger value, so instances sampling the same
    special at once never double count.
    """

    __tablename__ = "special_minutes"

    special_id: Mapped[int] = mapped_column(
        ForeignKey("specials.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
