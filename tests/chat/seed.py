"""A special to chat in: a host and its special, the least a chat room needs in the tables."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow


async def add_special(sessions: async_sessionmaker[AsyncSession]) -> int:
    """A new host and a special of theirs; returns the special's id."""
    async with sessions.begin() as db:
        host = User(username="h", display_name="H", role="host", password_hash="x")
        db.add(host)
        await db.flush()
        special = Special(
            title="s", starts_at=utcnow(), ends_at=utcnow() + timedelta(hours=1), host_id=host.id
        )
        db.add(special)
        await db.flush()
        return special.id
