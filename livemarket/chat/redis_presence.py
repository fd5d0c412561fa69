"""Viewer counts and like totals shared by every instance through Redis.

Presence: each instance writes its own count per special into the hash
``<prefix>presence:<special>`` (field = instance id) and, each time, sets its
heartbeat key ``<prefix>alive:<instance>`` to expire after ``STALE_AFTER_S``. A
total sums the fields of instances whose heartbeat key still exists, so an
instance that dies without cleaning up (killed) stops counting within
``STALE_AFTER_S``. A live instance with viewers beats every ``COUNTS_INTERVAL_S``
(1 s, the realtime timer), so three missed beats mean it is gone. Expiry runs on
Redis's clock: the instances' clocks need not agree.
Likes: one ``INCRBY`` per room per interval (the clicks are aggregated first).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livemarket.chat.presence import LocalCounts

log = logging.getLogger(__name__)

STALE_AFTER_S = 3.0
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

    def _alive(self, instance: str) -> str:
        return f"{self._prefix}alive:{instance}"

    async def totals(self, special_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(special_ids)
        # Publish our counts, including zeros for rooms we just emptied.
        mine = set(self.counts) | (self._published & set(wanted))
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._alive(self.instance), b"1", px=round(STALE_AFTER_S * 1000))
            for sid in mine:
                count = self.counts.get(sid, 0)
                if count:
                    pipe.hset(self._key(sid), self.instance, count)
                    pipe.expire(self._key(sid), KEY_TTL_S)
                else:
                    pipe.hdel(self._key(sid), self.instance)
            for sid in wanted:
                pipe.hgetall(self._key(sid))
            results = await pipe.execute()
        self._published = {sid for sid in mine if self.counts.get(sid, 0)}
        per_room: list[dict[Any, Any]] = results[-len(wanted) :] if wanted else []
        instances = sorted({_text(name) for fields in per_room for name in fields})
        alive = await self._alive_of(instances)
        if len(alive) < len(instances):
            await self._forget_dead(wanted, per_room, alive)
        return {
            sid: sum(int(v) for k, v in fields.items() if _text(k) in alive)
            for sid, fields in zip(wanted, per_room, strict=True)
        }

    async def _alive_of(self, instances: list[str]) -> set[str]:
        if not instances:
            return set()
        beats = await self._client.mget([self._alive(name) for name in instances])
        return {name for name, beat in zip(instances, beats, strict=True) if beat is not None}

    async def _forget_dead(
        self, wanted: list[int], per_room: list[dict[Any, Any]], alive: set[str]
    ) -> None:
        """Drop the fields of instances that stopped beating (a live one writes its own
        back on its next beat), so the hashes do not grow with every killed instance."""
        async with self._client.pipeline(transaction=False) as pipe:
            for sid, fields in zip(wanted, per_room, strict=True):
                dead = [name for name in fields if _text(name) not in alive]
                if dead:
                    pipe.hdel(self._key(sid), *dead)
            await pipe.execute()

    async def close(self) -> None:
        """Withdraw this instance's counts; with Redis away they lapse by themselves."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for sid in self._published | set(self.counts):
                    pipe.hdel(self._key(sid), self.instance)
                pipe.delete(self._alive(self.instance))
                await pipe.execute()
        except (RedisError, OSError):
            log.warning(
                "presence: Redis away at shutdown; this instance's counts lapse in %s s",
                STALE_AFTER_S,
            )
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
