"""Checkout fixtures: an engine on each backend and a seeded special."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.memory import InProcessBus
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.ledger_redis import RedisLedger
from livemarket.checkout.ledger_sql import SqlLedger
from livemarket.checkout.push import StockPusher
from livemarket.storage.engine import create_engine
from tests.conftest import build_settings, forget_redis_keys

from .checkout_seed import NOW, FakeClock, Seed, seed_special


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh migrated database (SQLite, then PostgreSQL)."""
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(sqlite_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def seed(engine: AsyncEngine) -> Seed:
    return await seed_special(engine)


@pytest.fixture(params=["sql", "redis"])
async def ledger(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[StockLedger]:
    """The SQL ledger on each database, and the Redis ledger (over each database too)."""
    if request.param == "sql":
        yield SqlLedger()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    redis_ledger = RedisLedger(Redis.from_url(url, decode_responses=True), prefix)
    yield redis_ledger
    await forget_redis_keys(url, prefix)
    await redis_ledger.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def ctx(
    engine: AsyncEngine, ledger: StockLedger, clock: FakeClock, tmp_path: Any
) -> AsyncIterator[CheckoutContext]:
    """Checkout services on each database and ledger, with a fake clock and an in-process bus."""
    bus = InProcessBus()
    context = CheckoutContext(
        engine=engine,
        ledger=ledger,
        bus=bus,
        clock=clock,
        settings=build_settings(tmp_path),
        pusher=StockPusher(bus),
    )
    yield context
    await context.close()
