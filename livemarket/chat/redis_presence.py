"""Viewer counts and like totals shared by every instance through Redis.

Presence: each instance writes its own count per special into the hash
``<prefix>presence:<special>`` (field = instance id) and refreshes its heartbeat
in the sorted set ``<prefix>instances``. A total sums the fields of instances
whose heartbeat is recent, so an instance that dies without cleaning up stops
counting after ``STALE_AFTER_S`` instead of inflating the count forever.
Likes: one ``INCRBY`` per room per interval (the clicks are aggregated first).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from livemarket.chat.presence import LocalCounts

STALE_AFTER_S = 15.0
KEY_TTL_S = 3600


class RedisPresence(LocalCounts):
    """Counts over every instance; ``totals`` also publishes this instance's counts."""

    def __init__(self, client: Redis, *, prefix: str = "livemarket:") -> None:
        super().__init__()
        self._client = client
        self._prefix = prefix
        self.instance = uuid.uuid4().hex[:12]
        self._published: set[int] = set()

    def _key(self, special_id: int) -> str:
        return f"{self._prefix}presence:{special_id}"

    async def totals(self, special_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(special_ids)
        now = time.time()
        # Publish our counts, including zeros for rooms we just emptied.
        mine = set(self.counts) | (self._published & set(wanted))
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(f"{self._prefix}instances", {self.instance: now})
            pipe.zremrangebyscore(f"{self._prefix}instances", 0, now - 10 * STALE_AFTER_S)
            for sid in mine:
                count = self.counts.get(sid, 0)
                if count:
                    pipe.hset(self._key(sid), self.instance, count)
                    pipe.expire(self._key(sid), KEY_TTL_S)
                else:
                    pipe.hdel(self._key(sid), self.instance)
            pipe.zrangebyscore(f"{self._prefix}instances", now - STALE_AFTER_S, "+inf")
            for sid in wanted:
                pipe.hgetall(self._key(sid))
            results = await pipe.execute()
        self._published = {sid for sid in mine if self.counts.get(sid, 0)}
        per_room = results[-len(wanted) :] if wanted else []
        alive = {_text(name) for name in results[-len(wanted) - 1]}
        return {
            sid: sum(int(v) for k, v in fields.items() if _text(k) in alive)
            for sid, fields in zip(wanted, per_room, strict=True)
        }

    async def close(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for sid in self._published | set(self.counts):
                pipe.hdel(self._key(sid), self.instance)
            pipe.zrem(f"{self._prefix}instances", self.instance)
            await pipe.execute()
        self.counts.clear()
        self._published.clear()


class RedisLikes:
    """Like totals in ``<prefix>likes:<special>``."""

    def __init__(self, client: Redis, *, prefix: str = "livemarket:") -> None:
        self._client = client
        self._prefix = prefix

    async def add(self, special_id: int, clicks: int) -> int:
        return int(await self._client.incrby(f"{self._prefix}likes:{special_id}", clicks))

    async def total(self, special_id: int) -> int:
        value = await self._client.get(f"{self._prefix}likes:{special_id}")
        return int(value or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
