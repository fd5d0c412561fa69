"""Chat tables: persisted messages (history survives a restart), bans, and id nodes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from livemarket.storage.base import Base, UTCDateTime, utcnow


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_special_id_id", "special_id", "id"),)

    #: Assigned in memory (``chat/ids.py``) so posting never waits for the database.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    special_id: Mapped[int] = mapped_column(ForeignKey("specials.id", ondelete="CASCADE"))
    #: The viewer's session key or ``user:<id>``: who to ban, whatever the nickname.
    author_key: Mapped[str] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    text: Mapped[str] = mapped_column(String(1000))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChatBan(Base):
    __tablename__ = "chat_bans"
    __table_args__ = (UniqueConstraint("special_id", "author_key", name="uq_chat_bans_author"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    special_id: Mapped[int] = mapped_column(ForeignKey("specials.id", ondelete="CASCADE"))
    author_key: Mapped[str] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(40), default="")
    banned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChatRoom(Base):
    """A room's moderation settings, so every instance and a restart agree on them."""

    __tablename__ = "chat_rooms"

    special_id: Mapped[int] = mapped_column(
        ForeignKey("specials.id", ondelete="CASCADE"), primary_key=True
    )
    slow_mode_s: Mapped[int] = mapped_column(Integer, default=0)
    pinned_message_id: Mapped[int | None] = mapped_column(BigInteger)


class ChatIdNode(Base):
    """One of the 64 message-id nodes, leased by the instance minting ids with it.

    The lease is in the database, not Redis, so a Redis restart cannot hand a node
    that is in use to a second instance (``chat/nodes.py``). The rows 0..63 exist
    from the migration on; ``expires_ms`` is the holder's wall clock.
    """

    __tablename__ = "chat_id_nodes"

    node: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(32), default="")
    expires_ms: Mapped[int] = mapped_column(BigInteger, default=0)
