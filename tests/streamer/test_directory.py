"""The relay directory: embedded "always here", and Redis claims with TTL and compare-and-delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from livemarket.streamer.directory import LocalDirectory, RedisDirectory

#: Short enough to watch a claim expire in a test.
TTL_S = 0.3


async def test_local_directory_is_always_here() -> None:
    """Embedded mode: every claim succeeds, no other owner, nothing to release."""
    directory = LocalDirectory()
    assert await directory.claim(7, "http://a") is None
    assert await directory.claim(7, "http://b") is None
    assert await directory.owner(7) is None
    assert directory.holds(7)
    await directory.release(7)
    await directory.refresh()
    await directory.close()
    assert await directory.owner(7) is None


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=False)
    yield client
    await client.aclose()


async def test_claim_names_the_owner_to_others(redis: Redis, redis_prefix: str) -> None:
    """The first instance wins; the second learns its URL; releasing frees the special."""
    a = RedisDirectory(redis, redis_prefix)
    b = RedisDirectory(redis, redis_prefix)
    assert await a.claim(1, "http://a.example/") is None
    assert a.holds(1) and not b.holds(1)
    assert await b.claim(1, "http://b.example") == "http://a.example"
    assert await b.owner(1) == "http://a.example"
    assert await a.owner(1) is None  # its own claim is "here"
    assert await redis.get(f"{redis_prefix}relay:1") is not None
    # the same instance claiming again (a host replacing its session) keeps it
    assert await a.claim(1, "http://a.example") is None
    await a.release(1)
    assert await redis.get(f"{redis_prefix}relay:1") is None
    assert await b.claim(1, "http://b.example") is None
    assert await a.owner(1) == "http://b.example"
    await b.close()
    assert await redis.get(f"{redis_prefix}relay:1") is None


async def test_claim_expires_without_heartbeat_and_lives_with_it(
    redis: Redis, redis_prefix: str
) -> None:
    """A vanished owner's claim lapses after the TTL; a refreshed one does not."""
    a = RedisDirectory(redis, redis_prefix, ttl_s=TTL_S)
    b = RedisDirectory(redis, redis_prefix, ttl_s=TTL_S)
    assert await a.claim(1, "http://a") is None
    for _ in range(6):  # the heartbeat keeps it through 2 x TTL
        await asyncio.sleep(a.refresh_interval_s)
        await a.refresh()
    assert await b.owner(1) == "http://a"
    # the owner vanishes: no more beats, no release
    await asyncio.sleep(TTL_S * 2)
    assert await b.owner(1) is None
    assert await b.claim(1, "http://b") is None
    assert await a.owner(1) == "http://b"
    await b.close()


async def test_release_never_deletes_another_instances_claim(
    redis: Redis, redis_prefix: str
) -> None:
    """Compare-and-delete: after A's claim expired and B claimed, A's release leaves B's."""
    a = RedisDirectory(redis, redis_prefix, ttl_s=TTL_S)
    b = RedisDirectory(redis, redis_prefix, ttl_s=TTL_S)
    assert await a.claim(5, "http://a") is None
    await asyncio.sleep(TTL_S * 2)
    assert await b.claim(5, "http://b") is None
    await a.release(5)
    assert await a.owner(5) == "http://b"
    # A's heartbeat does not steal it back either: A learns it lost the claim
    assert await a.claim(6, "http://a") is None
    await asyncio.sleep(TTL_S * 2)
    assert await b.claim(6, "http://b") is None
    await a.refresh()
    assert not a.holds(6)
    assert await a.owner(6) == "http://b"
    await b.close()


async def test_a_late_release_spares_a_newer_claim_of_the_same_instance(
    redis: Redis, redis_prefix: str
) -> None:
    """A release scheduled before a re-claim (host reconnecting here) must not undo it."""
    a = RedisDirectory(redis, redis_prefix)
    b = RedisDirectory(redis, redis_prefix)
    assert await a.claim(9, "http://a") is None
    pending = a.release(9)  # forgotten now, deleted later
    assert await a.claim(9, "http://a") is None
    await pending
    assert a.holds(9)
    assert await b.owner(9) == "http://a"
    await a.close()


async def test_a_dead_owners_claim_is_taken_over_after_its_lease_not_its_ttl(
    redis: Redis, redis_prefix: str
) -> None:
    """An owner that stops beating loses its special after the short lease; one beating keeps it."""
    a = RedisDirectory(redis, redis_prefix, ttl_s=60.0, lease_s=TTL_S)
    b = RedisDirectory(redis, redis_prefix, ttl_s=60.0, lease_s=TTL_S)
    assert a.refresh_interval_s == pytest.approx(TTL_S / 3)
    assert await a.claim(3, "http://a") is None
    for _ in range(6):  # beating through 2 x lease: still A's, for WHIP and WHEP alike
        await asyncio.sleep(a.refresh_interval_s)
        await a.refresh()
    assert await b.owner(3) == "http://a"
    assert await b.claim(3, "http://b") == "http://a"
    # A dies (kill -9: no release, no more beats); its claim has ~59 s left
    await asyncio.sleep(TTL_S * 1.5)
    assert await redis.pttl(f"{redis_prefix}relay:3") > 50_000
    assert await b.owner(3) is None  # viewers are no longer sent to the dead owner
    assert await b.claim(3, "http://b") is None  # the re-publish is taken here
    assert await a.owner(3) == "http://b"
    await a.refresh()  # a stalled A coming back learns it lost the claim
    assert not a.holds(3)
    await b.close()
    assert await redis.get(b.alive_key) is None
