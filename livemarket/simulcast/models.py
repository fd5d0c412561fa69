"""Where a special is simulcast: RTMP(S) destinations per partner platform or per special."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime, utcnow


class SimulcastDestination(Base):
    """One ingest (URL + encrypted stream key) for a platform's specials, or for one special."""

    __tablename__ = "simulcast_destinations"
    __table_args__ = (
        CheckConstraint(
            "platform_id IS NOT NULL OR special_id IS NOT NULL", name="platform_or_special"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), index=True
    )
    special_id: Mapped[int | None] = mapped_column(
        ForeignKey("specials.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(300))
    #: The stream key, Fernet-encrypted with a key derived from the server secret.
    key_cipher: Mapped[str] = mapped_column(Text)
    #: Its last four characters, the only part ever shown again.
    key_tail: Mapped[str] = mapped_column(String(4))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
