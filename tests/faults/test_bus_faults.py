"""The Redis event bus through a real Redis restart: nothing published after it returns is
lost on the way to a subscriber that was reconnecting (issue 12, item 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livemarket.bus.redis import RedisBus
from livemarket.tasks import TaskBoard
from tests.faults.harness import RedisServer

#: Delivery through a restart, not payloads: toy events numbered ``n``.
pytestmark = pytest.mark.toy_events


async def test_events_published_while_a_reader_reconnects_all_arrive_in_order(
    fault_redis: RedisServer,
) -> None:
    """Redis killed and started again (empty): every event whose publish succeeded once it
    is back reaches the other instance's subscriber, in order, and none that failed does;
    the reader reports the outage in its health."""
    publisher_client = Redis.from_url(fault_redis.url)
    reader_client = Redis.from_url(fault_redis.url)
    board = TaskBoard()
    publisher = RedisBus(publisher_client, prefix="drill:")
    reader = RedisBus(reader_client, prefix="drill:", board=board)
    seen: list[Any] = []
    reader.subscribe("special:1", lambda _topic, event: seen.append(event["n"]))
    try:
        await reader.ready()
        await publisher.publish("special:1", {"type": "chat", "n": -1})
        async with asyncio.timeout(5):
            while seen != [-1]:
                await asyncio.sleep(0.01)
        await asyncio.to_thread(fault_redis.restart, 0.5, kill=True)
        published, refused = [], []
        for n in range(50):
            try:  # the first command on a connection Redis dropped fails: refused, not lost
                await publisher.publish("special:1", {"type": "chat", "n": n})
            except (RedisError, OSError):
                refused.append(n)
            else:
                published.append(n)
            await asyncio.sleep(0.01)
        assert len(published) >= 45
        async with asyncio.timeout(10):
            while len(seen) < 1 + len(published):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert seen == [-1, *published]
        [health] = board.snapshot()
        assert health.name == "redis-bus-reader"
        assert health.failures_total >= 1 and health.state == "running"
    finally:
        await reader.close()
        await publisher.close()
        await publisher_client.aclose()
        await reader_client.aclose()
