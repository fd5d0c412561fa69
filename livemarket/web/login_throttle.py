"""The login budget: attempts per account and per address, shared by every instance.

An attempt is counted *before* the password is checked, in one atomic step (a
plain call with no await in between when embedded; one Lua script in Redis in
scale-out), so sixty parallel guesses get five verifications and 55 refusals,
not sixty verifications. A success hands back its own attempt on the address and
clears its own account's count; it never clears what other accounts' failures
cost the address (a guesser logging into their own account gains nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livemarket.accounts.throttle import SlidingWindow
from livemarket.web.errors import ApiError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
WINDOW_S = 60.0
#: How long a login waits for Redis before it is refused as unavailable.
TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Attempt:
    """One counted login attempt: its keys (account, address) and its own token."""

    account_key: str
    address_key: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def keys(self) -> tuple[str, str]:
        return (self.account_key, self.address_key)


def attempt_for(username: str, address: str | None) -> Attempt:
    return Attempt(f"user:{username.casefold()}", f"addr:{address}")


class LoginThrottle(Protocol):
    async def take(self, attempt: Attempt) -> float:
        """Count ``attempt`` and return 0, or count nothing and return the wait in seconds."""

    async def succeeded(self, attempt: Attempt) -> None:
        """``attempt`` was a success: its account starts afresh, the address gets it back."""


#: The app's login budget (built by the composition root, ``web/services/accounts.py``).
LOGIN_THROTTLE_KEY: web.AppKey[LoginThrottle] = web.AppKey("login_throttle")


class LocalLoginThrottle:
    """The embedded budget: one process, one :class:`SlidingWindow`."""

    def __init__(self, max_attempts: int = MAX_ATTEMPTS, window_s: float = WINDOW_S) -> None:
        self.window = SlidingWindow(max_events=max_attempts, window_s=window_s)

    async def take(self, attempt: Attempt) -> float:
        return self.window.take(attempt.keys, time.monotonic())

    async def succeeded(self, attempt: Attempt) -> None:
        self.window.forget(attempt.account_key)
        self.window.give_back(attempt.address_key)


# KEYS: the attempt's sorted sets (account, address). ARGV: max, window_ms, token.
# Returns 0 (counted on every key) or the milliseconds until the fullest key has room.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now, 1)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


def unavailable() -> ApiError:
    return ApiError(
        503,
        "login_unavailable",
        "Logging in is unavailable just now; try again in a moment.",
        headers={"Retry-After": "5"},
    )


class RedisLoginThrottle:
    """The scale-out budget: sorted sets of attempt tokens in Redis, decided in Lua."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        max_attempts: int = MAX_ATTEMPTS,
        window_s: float = WINDOW_S,
    ) -> None:
        self._client = client
        self._prefix = prefix + "login:"
        self._max = max_attempts
        self._window_ms = round(window_s * 1000)
        self._script = client.register_script(_TAKE)

    async def take(self, attempt: Attempt) -> float:
        keys = [self._prefix + key for key in attempt.keys]
        try:
            async with asyncio.timeout(TIMEOUT_S):
                wait_ms = await self._script(
                    keys=keys, args=[self._max, self._window_ms, attempt.token]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("login throttle: Redis failed, refusing logins", exc_info=True)
            raise unavailable() from exc
        return int(wait_ms) / 1000

    async def succeeded(self, attempt: Attempt) -> None:
        try:
            async with asyncio.timeout(TIMEOUT_S):
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.delete(self._prefix + attempt.account_key)
                    pipe.zrem(self._prefix + attempt.address_key, attempt.token)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            # The login stands; its attempt just stays counted until the window passes.
            log.warning("login throttle: could not clear a success", exc_info=True)
