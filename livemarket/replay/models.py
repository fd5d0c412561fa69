"""The one thing a replay needs that no other table keeps with its time: product pins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime


class ShowMoment(Base):
    """Something that happened at a moment of a special (today: a product pinned or unpinned).

    Deals keep their own start and end (``flash_deals``) and chat keeps its messages
    (``chat_messages``); a pin only overwrites ``specials.pinned_product_id``, so its
    history is written here by the replay recorder. Each instance hearing the bus event
    writes a row; the timeline folds such near-twins into one (``timeline.collapse``).
    """

    __tablename__ = "show_moments"
    __table_args__ = (Index("ix_show_moments_special_id_at", "special_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    special_id: Mapped[int] = mapped_column(ForeignKey("specials.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: ``product.pinned`` (``product_id`` set) or ``product.unpinned``.
    kind: Mapped[str] = mapped_column(String(24))
    product_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
