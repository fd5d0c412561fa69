"""Chat pacing in Redis: two pacers (as two instances) share one person's budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import unused_port
from redis.asyncio import Redis

from livemarket.chat.redis_pace import RedisPace
from livemarket.chat.rules import PaceRule, RoomRules
from livemarket.errors import DomainError, ErrorKind
from tests.conftest import forget_redis_keys

pytestmark = pytest.mark.redis

RULE = PaceRule(rate_count=5, rate_window_s=10.0)


@pytest.fixture
async def clients(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two clients of one Redis (one per instance); the test's keys are removed after."""
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield one, two
    await forget_redis_keys(redis_url, redis_prefix)
    await one.aclose()
    await two.aclose()


@pytest.fixture
def pacers(clients: tuple[Redis, Redis], redis_prefix: str) -> tuple[RedisPace, RedisPace]:
    return RedisPace(clients[0], prefix=redis_prefix), RedisPace(clients[1], prefix=redis_prefix)


async def refusal(pacer: RedisPace, special_id: int, key: str, rule: PaceRule) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await pacer.take(special_id, key, rule)
    return caught.value


async def test_one_budget_over_two_instances(pacers: tuple[RedisPace, RedisPace]) -> None:
    """Five sends split over two instances pass; the sixth is refused on either, like in memory."""
    one, two = pacers
    for i in range(5):
        await (one if i % 2 else two).take(1, "v:alice", RULE)
    for pacer in (one, two):
        error = await refusal(pacer, 1, "v:alice", RULE)
        assert error.code == "chat_rate_limited"
        assert error.kind is ErrorKind.LIMITED
        assert 0 < float(error.details["retry_after"]) <= 10
    in_memory = RoomRules()
    assert in_memory.pace == RULE
    assert error.message == RULE.rate_refusal(1.0).message


async def test_window_passes(pacers: tuple[RedisPace, RedisPace]) -> None:
    """Once the oldest send leaves the window, one more may go."""
    one, two = pacers
    rule = PaceRule(rate_count=2, rate_window_s=0.3)
    await one.take(1, "v:alice", rule)
    await two.take(1, "v:alice", rule)
    retry = float((await refusal(one, 1, "v:alice", rule)).details["retry_after"])
    assert 0 <= retry <= 0.3
    await asyncio.sleep(0.35)
    await two.take(1, "v:alice", rule)


async def test_slow_mode_across_instances(pacers: tuple[RedisPace, RedisPace]) -> None:
    """Slow mode counts a send on one instance against the next on another."""
    one, two = pacers
    rule = PaceRule(rate_count=5, rate_window_s=10.0, slow_mode_s=30)
    await one.take(1, "v:alice", rule)
    error = await refusal(two, 1, "v:alice", rule)
    assert error.code == "chat_slow_mode"
    assert error.kind is ErrorKind.LIMITED
    assert 29 < float(error.details["retry_after"]) <= 30
    assert error.message == rule.slow_mode_refusal(1.0).message
    # Slow mode off again: the earlier send only counts towards the rate limit.
    await two.take(1, "v:alice", RULE)


async def test_people_and_specials_are_independent(pacers: tuple[RedisPace, RedisPace]) -> None:
    """Another person, or the same person in another special, has a budget of their own."""
    one, two = pacers
    for _ in range(5):
        await one.take(1, "v:alice", RULE)
    assert (await refusal(two, 1, "v:alice", RULE)).code == "chat_rate_limited"
    await two.take(1, "v:bob", RULE)
    await two.take(2, "v:alice", RULE)


async def test_keys_expire_after_the_horizon(
    pacers: tuple[RedisPace, RedisPace], clients: tuple[Redis, Redis]
) -> None:
    """The list keeps at most ``rate_count`` sends and expires once none can matter."""
    one, _ = pacers
    rule = PaceRule(rate_count=3, rate_window_s=10.0, slow_mode_s=0)
    for _ in range(3):
        await one.take(7, "v:carol", rule)
    key = one.key(7, "v:carol")
    assert await clients[0].llen(key) == 3
    assert 10_000 < await clients[0].pttl(key) <= 11_000


async def test_redis_down_refuses_as_unavailable() -> None:
    """With Redis unreachable the message is refused (503-kind), never let through unpaced."""
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_port()}/0")
    try:
        error = await refusal(RedisPace(dead, prefix="lmtest:dead:"), 1, "v:alice", RULE)
    finally:
        await dead.aclose()
    assert error.code == "chat_unavailable"
    assert error.kind is ErrorKind.UNAVAILABLE


async def test_redis_too_slow_refuses_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis that accepts but never answers costs the message, not an endless wait."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr("livemarket.chat.redis_pace.TIMEOUT_S", 0.2)
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        started = asyncio.get_running_loop().time()
        error = await refusal(RedisPace(client, prefix="lmtest:slow:"), 1, "v:alice", RULE)
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert error.code == "chat_unavailable"
