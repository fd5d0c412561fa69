"""The user table: operators and hosts. Viewers have no row; they live in their session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('operator', 'host')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: The WHIP bearer token; shown to its host, so kept retrievable, compared in constant time.
    stream_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Sessions carry the generation they were issued under; bumping it (logout, a new
    #: password, disabling) revokes every earlier session on every instance.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    #: A disabled user cannot log in or stream; None while the account is in use.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
