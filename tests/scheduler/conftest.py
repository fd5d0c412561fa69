"""Scheduler fixtures: a migrated database of each backend, seed rows, a clock tests move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.bus.memory import InProcessBus
from livemarket.checkout.models import Product
from livemarket.scheduler.calendar import CalendarRules
from livemarket.scheduler.models import Platform
from livemarket.scheduler.service import CalendarService
from tests.fakes import FakeClock

T0 = datetime(2026, 12, 18, 9, 0, tzinfo=UTC)  # 18:00 in Seoul


@dataclass
class Recorder:
    """Collects every event published on the topics it listens to."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, topic: str, event: Any) -> None:
        self.events.append((topic, dict(event)))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e.get("type") == kind]


@dataclass
class Seed:
    hosts: list[int]
    operator: int
    products: list[int]
    platform: int


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seed:
    async with sessions() as db:
        hosts = [
            User(username=f"host{i}", display_name=f"Host {i}", role="host", password_hash="x")
            for i in range(3)
        ]
        operator = User(username="op", display_name="Op", role="operator", password_hash="x")
        products = [
            Product(sku=f"P{i}", name=f"상품 {i}", category="food", price=10000 + i, stock=100)
            for i in range(4)
        ]
        platform = Platform(slug="naver", name="Naver", name_ko="네이버")
        db.add_all([*hosts, operator, *products, platform])
        await db.commit()
        return Seed([h.id for h in hosts], operator.id, [p.id for p in products], platform.id)


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
def service(
    sessions: async_sessionmaker[AsyncSession], bus: InProcessBus, clock: FakeClock
) -> CalendarService:
    return CalendarService(sessions, bus, clock, CalendarRules(), go_live_early_minutes=15)
