"""Where each special's relay lives when several instances share one Redis.

A special's media lives on one instance: the one that accepted its WHIP
publisher. That instance *claims* ``<prefix>relay:<special_id>`` with its
public base URL (setting ``instance_url``, else the WHIP request's origin) and
a TTL that a heartbeat refreshes, so a crashed instance's claim expires by
itself. Another instance answers WHIP for a claimed special with 409
``stream_elsewhere`` and WHEP with ``307`` to ``<owner>/whep/<id>`` (RFC 9725
allows redirects). A claim is released (compare-and-delete in Lua, so only
while it is still ours) when the publisher ends or is lost, and on shutdown;
the host's reconnect may then land on any instance.

Early viewers: a viewer may connect before the host and waits on whatever
instance it reached. If the host then goes live elsewhere, the heartbeat
notices that a claim for a special with local viewers is held by another
instance and hangs those viewers up; the player reconnects and follows the
307 to the owner. They lose nothing but a "waiting" poster's few seconds.

Embedded mode has one instance: :class:`LocalDirectory` says "here" always.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Coroutine
from typing import Any, Protocol

from redis.asyncio import Redis

logger = logging.getLogger(__name__)

#: Default lifetime of a claim; the heartbeat refreshes it every third of that.
CLAIM_TTL_S = 15.0

# KEYS[1] the claim; ARGV: new value, ttl ms, this instance's id prefix.
# Take the claim when free or already ours (a same-host replacement); else
# return the current value so the caller can name the owner.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if (not current) or string.sub(current, 1, string.len(ARGV[3])) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return current
"""

# Delete only our own value (another instance may have claimed since ours expired).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Extend our claim; re-take it if it lapsed (a stalled loop); 0 when someone else has it.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RelayDirectory(Protocol):
    """Claims and looks up which instance holds a special's relay."""

    #: Seconds between heartbeats (``refresh`` calls).
    refresh_interval_s: float

    async def claim(self, special_id: int, base_url: str) -> str | None:
        """Claim the special for this instance: None when ours, else the owner's base URL."""
        ...

    async def owner(self, special_id: int) -> str | None:
        """The base URL of *another* live instance holding the relay, or None."""
        ...

    def release(self, special_id: int) -> Coroutine[Any, Any, None]:
        """Give the claim up if it is still ours.

        The claim is forgotten at the call, before the returned coroutine runs, so
        a release scheduled for later never touches a claim made in between.
        """
        ...

    def holds(self, special_id: int) -> bool:
        """True while this instance claims the special."""
        ...

    async def refresh(self) -> None:
        """Extend every claim of this instance (the heartbeat)."""
        ...

    async def close(self) -> None:
        """Release every claim (shutdown)."""
        ...


class LocalDirectory:
    """One instance: every relay is here, nothing to claim."""

    refresh_interval_s = CLAIM_TTL_S / 3

    async def claim(self, special_id: int, base_url: str) -> str | None:
        return None

    async def owner(self, special_id: int) -> str | None:
        return None

    def release(self, special_id: int) -> Coroutine[Any, Any, None]:
        return _nothing()

    def holds(self, special_id: int) -> bool:
        return True

    async def refresh(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def _nothing() -> None:
    return None


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


class RedisDirectory:
    """Claims in Redis: ``<prefix>relay:<id>`` = ``"<instance id>:<nonce> <base url>"``.

    The instance id tells "ours" from "theirs" even when two instances share a
    URL; the nonce makes each claim distinct, so a late release of an old claim
    never deletes a newer one.
    """

    def __init__(self, redis: Redis, prefix: str, *, ttl_s: float = CLAIM_TTL_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self.refresh_interval_s = ttl_s / 3
        self.instance_id = secrets.token_hex(8)
        self._held: dict[int, str] = {}
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._refresh = redis.register_script(_REFRESH)

    def key(self, special_id: int) -> str:
        return f"{self._prefix}relay:{special_id}"

    async def claim(self, special_id: int, base_url: str) -> str | None:
        value = f"{self.instance_id}:{secrets.token_hex(4)} {base_url.rstrip('/')}"
        current = _text(
            await self._claim(
                keys=[self.key(special_id)], args=[value, self._ttl_ms, f"{self.instance_id}:"]
            )
        )
        if current is None:
            self._held[special_id] = value
            return None
        return current.partition(" ")[2]

    async def owner(self, special_id: int) -> str | None:
        current = _text(await self._redis.get(self.key(special_id)))
        if current is None or current.startswith(f"{self.instance_id}:"):
            return None
        return current.partition(" ")[2]

    def release(self, special_id: int) -> Coroutine[Any, Any, None]:
        # Forget it now: a claim made meanwhile has a new value of its own.
        return self._delete(special_id, self._held.pop(special_id, None))

    async def _delete(self, special_id: int, value: str | None) -> None:
        if value is not None:
            await self._release(keys=[self.key(special_id)], args=[value])

    def holds(self, special_id: int) -> bool:
        return special_id in self._held

    async def refresh(self) -> None:
        for special_id, value in list(self._held.items()):
            kept = await self._refresh(keys=[self.key(special_id)], args=[value, self._ttl_ms])
            if not kept and self._held.get(special_id) == value:
                logger.warning("the relay claim of special %s was taken over", special_id)
                del self._held[special_id]

    async def close(self) -> None:
        for special_id in list(self._held):
            await self.release(special_id)
