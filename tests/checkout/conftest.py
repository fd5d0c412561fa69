"""Checkout fixtures: an engine on each backend and a seeded special."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from checkout_seed import Seed, seed_special
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.storage.engine import create_engine


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
