"""Chat pacing shared by every instance: one person's recent sends kept in Redis.

In scale-out a viewer's tabs may hold sockets on several instances (``serve
--workers N`` spreads them over one port), so counting sends per instance would
give them N times the rate. :class:`RedisPace` keeps each person's last sends per
room in ``<prefix>chat:pace:<special_id>:<author_key>``, a list of Redis times in
milliseconds, newest first, trimmed to ``rate_count``, and decides in one Lua
script, which Redis runs alone: the check and the record are atomic across
instances, so two sockets racing cannot both take the last slot.

The decision is :meth:`~livemarket.chat.rules.PaceRule.refusal` written in Lua
(same order: slow mode first, then the rate limit) and the refusals are the
rule's own (same codes, messages, ``retry_after``). Time is Redis's ``TIME``, so
the instances' clocks never disagree about a window (Redis 5 and later replicate
a script's effects, not the script, which is what lets it read the clock before
writing). The key expires ``horizon + 1 s`` after the last accepted send: sends
older than that matter to no decision under the rule then in force (if slow mode
is raised later, older sends are forgotten: the same bound the embedded rules
apply when they forget idle people under floods, ``RoomRules._forget_idle``).

If Redis cannot answer within ``TIMEOUT_S`` the message is refused with
``chat_unavailable`` (503-kind): letting it through unpaced would reopen the
flood this closes, and the socket must not pay for a lost Redis.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livemarket.chat.rules import PaceRule, unavailable

log = logging.getLogger(__name__)

#: How long a post waits for Redis before it is refused as unavailable.
TIMEOUT_S = 2.0
_MARGIN_MS = 1000

# KEYS: the person's pace list. ARGV: rate_count, window_ms, slow_ms, ttl_ms.
# Returns {0, 0} (recorded), {1, retry_ms} (slow mode) or {2, retry_ms} (rate limit).
_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local slow = tonumber(ARGV[3])
local last = redis.call('LINDEX', KEYS[1], 0)
if last and slow > 0 and now - tonumber(last) < slow then
  return {1, math.min(slow, slow - (now - tonumber(last)))}
end
if count > 0 then
  local oldest = redis.call('LINDEX', KEYS[1], count - 1)
  if oldest and now - tonumber(oldest) < window then
    return {2, math.min(window, window - (now - tonumber(oldest)))}
  end
end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, math.max(count, 1) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {0, 0}
"""


class RedisPace:
    """Applies a room's :class:`PaceRule` to a person's sends over every instance."""

    def __init__(self, client: Redis, *, prefix: str = "livemarket:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_PACE)
        self._failing = False  # log once per outage, not once per refused message

    def key(self, special_id: int, author_key: str) -> str:
        return f"{self._prefix}chat:pace:{special_id}:{author_key}"

    async def take(self, special_id: int, author_key: str, rule: PaceRule) -> None:
        """Record a send by ``author_key`` now, or raise the rule's refusal.

        Raises ``chat_unavailable`` (and records nothing it can know of) when Redis
        fails or does not answer in time.
        """
        window_ms = round(rule.rate_window_s * 1000)
        slow_ms = rule.slow_mode_s * 1000
        args = [rule.rate_count, window_ms, slow_ms, round(rule.horizon_s * 1000) + _MARGIN_MS]
        try:
            async with asyncio.timeout(TIMEOUT_S):
                verdict, retry_ms = await self._script(
                    keys=[self.key(special_id, author_key)], args=args
                )
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._failing:
                self._failing = True
                log.warning("chat pacing: Redis failed, refusing messages", exc_info=True)
            raise unavailable() from exc
        if self._failing:
            self._failing = False
            log.warning("chat pacing: Redis answers again")
        if verdict == 1:
            raise rule.slow_mode_refusal(int(retry_ms) / 1000)
        if verdict == 2:
            raise rule.rate_refusal(int(retry_ms) / 1000)
