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

A dead owner: an instance killed outright releases nothing, and its claim
would block the special until the claim's TTL ran out. So every instance that
holds claims also keeps a short *liveness lease*, ``<prefix>relay-alive:<id>``
(``OWNER_LEASE_S``, beaten every third of it with the claims). A claim whose
owner's lease is gone belongs to no one: WHIP on another instance takes it over
in the same Lua call that checks, and WHEP stops redirecting to it (viewers
wait locally, then follow the new owner when the heartbeat below moves them).
So a host re-publishing after its instance died is taken within the lease, a
few seconds, whatever the claim's TTL. Redis decides, not a probe of the
owner's URL: instances need not reach each other's public addresses, and a
network split between them cannot make two owners. The price: an instance whose
loop stalls longer than the lease may lose its special to a re-publish elsewhere.

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
#: Default liveness lease of an instance holding claims: how long a dead owner blocks.
OWNER_LEASE_S = 3.0

# The owner of a claim value "<instance id>:<nonce> <url>" is alive while its
# liveness key (the liveness prefix, then the instance id) exists. Shared below.
_OWNER_ALIVE = """
local function owner_alive(value, alive_prefix)
  local id = string.match(value, '^([^:]*):')
  return id ~= nil and redis.call('EXISTS', alive_prefix .. id) == 1
end
"""

# KEYS[1] the claim, KEYS[2] our liveness key; ARGV: new value, ttl ms, our id
# prefix, lease ms, liveness key prefix. Take the claim when free, already ours (a
# same-host replacement) or its owner is dead; else return the current value so the
# caller can name the owner.
_CLAIM = (
    _OWNER_ALIVE
    + """
local current = redis.call('GET', KEYS[1])
if (not current) or string.sub(current, 1, string.len(ARGV[3])) == ARGV[3]
    or not owner_alive(current, ARGV[5]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  return false
end
return current
"""
)

# KEYS[1] the claim; ARGV[1] the liveness key prefix: the value, if its owner lives.
_OWNER = (
    _OWNER_ALIVE
    + """
local current = redis.call('GET', KEYS[1])
if current and owner_alive(current, ARGV[1]) then
  return current
end
return false
"""
)

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
    URL, and names the owner's liveness key; the nonce makes each claim
    distinct, so a late release of an old claim never deletes a newer one.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        ttl_s: float = CLAIM_TTL_S,
        lease_s: float = OWNER_LEASE_S,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))
        lease_s = min(lease_s, ttl_s)  # beating at the lease's pace keeps the claims too
        self._lease_ms = max(1, int(lease_s * 1000))
        self.refresh_interval_s = lease_s / 3
        self.instance_id = secrets.token_hex(8)
        self._alive_prefix = f"{prefix}relay-alive:"
        self._held: dict[int, str] = {}
        self._claim = redis.register_script(_CLAIM)
        self._owner = redis.register_script(_OWNER)
        self._release = redis.register_script(_RELEASE)
        self._refresh = redis.register_script(_REFRESH)

    def key(self, special_id: int) -> str:
        return f"{self._prefix}relay:{special_id}"

    @property
    def alive_key(self) -> str:
        """This instance's liveness lease, present while it beats."""
        return self._alive_prefix + self.instance_id

    async def claim(self, special_id: int, base_url: str) -> str | None:
        value = f"{self.instance_id}:{secrets.token_hex(4)} {base_url.rstrip('/')}"
        current = _text(
            await self._claim(
                keys=[self.key(special_id), self.alive_key],
                args=[
                    value,
                    self._ttl_ms,
                    f"{self.instance_id}:",
                    self._lease_ms,
                    self._alive_prefix,
                ],
            )
        )
        if current is None:
            self._held[special_id] = value
            return None
        return current.partition(" ")[2]

    async def owner(self, special_id: int) -> str | None:
        current = _text(await self._owner(keys=[self.key(special_id)], args=[self._alive_prefix]))
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
        if self._held:  # the lease first: a claim we keep must not look dead meanwhile
            await self._redis.set(self.alive_key, b"1", px=self._lease_ms)
        for special_id, value in list(self._held.items()):
            kept = await self._refresh(keys=[self.key(special_id)], args=[value, self._ttl_ms])
            if not kept and self._held.get(special_id) == value:
                logger.warning("the relay claim of special %s was taken over", special_id)
                del self._held[special_id]

    async def close(self) -> None:
        for special_id in list(self._held):
            await self.release(special_id)
        await self._redis.delete(self.alive_key)
