"""Shared test doubles and seeds: the one fake clock and the one way to add a special."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.checkout.pricing import Deal
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow


@dataclass
class FakeClock:
    """The server clock (aware UTC) under the test's control: it moves only when told."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def a_deal(special_id: int, deal_id: int, *, product_id: int = 3, sold: int = 0) -> Deal:
    """A half-price deal on ``product_id`` of 20 units, running for the next hour; its
    ``started_event()`` and ``ended_event()`` are the events checkout publishes."""
    now = utcnow()
    return Deal(
        id=deal_id,
        special_id=special_id,
        product_id=product_id,
        discount_pct=50,
        original_price=10000,
        price=5000,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        quantity=20,
        sold=sold,
        per_buyer_limit=2,
    )


async def add_special(
    sessions: async_sessionmaker[AsyncSession], host_id: int | None = None, *, status: str = "live"
) -> int:
    """A special from five minutes ago to an hour ahead, hosted by ``host_id`` (or a new
    host); ``status`` as given. Returns its id."""
    now = utcnow()
    async with sessions.begin() as db:
        if host_id is None:
            host = User(
                username=f"h{uuid.uuid4().hex[:8]}",
                display_name="H",
                role="host",
                password_hash="x",
            )
            db.add(host)
            await db.flush()
            host_id = host.id
        special = Special(
            title="K-MAS 라이브",
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1),
            status=status,
            host_id=host_id,
        )
        db.add(special)
        await db.flush()
        return special.id
