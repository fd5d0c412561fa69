"""Viewer counts over instances in Redis: an instance that stops beating stops counting."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from livemarket.chat import redis_presence
from livemarket.chat.redis_presence import RedisPresence
from tests.conftest import forget_redis_keys

pytestmark = pytest.mark.redis


async def test_a_silent_instance_stops_counting_and_is_forgotten(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts add up over instances; one that stops beating (killed) drops out once its
    heartbeat key expires on Redis's clock, and its fields are removed."""
    monkeypatch.setattr(redis_presence, "STALE_AFTER_S", 0.3)
    client = Redis.from_url(redis_url)
    try:
        alive, doomed = (RedisPresence(client, prefix=redis_prefix) for _ in range(2))
        alive.join(7)
        for _ in range(3):
            doomed.join(7)
        await doomed.totals([7])
        assert await alive.totals([7]) == {7: 4}
        await asyncio.sleep(0.5)  # doomed says nothing more
        assert await alive.totals([7]) == {7: 1}
        assert await client.hkeys(f"{redis_prefix}presence:7") == [alive.instance.encode()]
        await alive.close()
        assert await client.exists(f"{redis_prefix}alive:{alive.instance}") == 0
    finally:
        await forget_redis_keys(redis_url, redis_prefix)
        await client.aclose()
