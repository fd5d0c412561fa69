"""The Redis stock ledger: one Lua script checks every line, then takes every line.

Redis runs a script alone, so the check-then-take is atomic across all
instances. Redis is the fast gate in front of the database, not the truth: the
order writer moves the database's counters (``products.stock``,
``flash_deals.sold``) in the order's own statement, and their CHECK constraints
refuse a unit the database does not have, so Redis can never sell what the
database did not record, and whatever Redis loses is rebuilt from the database.

- **Epoch.** ``<prefix>epoch`` names the generation of the counters. Every
  script checks it first: after a restart without persistence, a flush or a
  failover that lost it, nothing sells on leftovers. The first instance to see
  it gone drops the old counters and sets a new epoch (others answer 503
  ``stock_unavailable`` meanwhile); counters then load lazily from the database
  (``SET NX``, so concurrent loaders agree), deals with their buyers' units
  counted from the orders themselves.
- **Give-back needs no database.** Units taken for an order that was not
  written go back by script alone, and only into counters of the epoch that took
  them (the rebuilt ones never counted them).
- **Reconciliation** (:meth:`RedisLedger.reconcile`, every few seconds): a
  counter above the database's is lowered at once (Redis may lag the database
  only downwards: it takes units before the order is written); one below it is
  raised once it has been quiet for ``QUIET_MS`` (no reservation still writing),
  which repairs units lost by a crash between take and write.

Keys (``<prefix>`` lets tests share one Redis):

- ``<prefix>epoch``; ``<prefix>recount`` (the rebuild's lock);
- ``<prefix>stock:<product_id>``: available units;
- ``<prefix>deal:<deal_id>``: hash ``left``, ``open`` (1/0), ``ends_ms``;
- ``<prefix>deal:<deal_id>:buyers``: hash buyer key → units held;
- ``<prefix>changed``: hash ``p:<id>``/``d:<id>`` → Redis time (ms) of the last change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.checkout.batcher import Batcher
from livemarket.checkout.ledger import (
    CountersMissing,
    Hold,
    Remaining,
    deal_ended,
    deal_sold_out,
    limit_reached,
    sold_out,
    stock_unavailable,
)
from livemarket.checkout.states import CANCELLED, EXPIRED
from livemarket.checkout.tables import deals, order_lines, orders, products

log = logging.getLogger(__name__)

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

# KEYS: per line stock, deal, buyers (3 each); then epoch, changed.
# ARGV: buyer, now_ms, epoch, then per line product_id, qty, deal_id (0 = none), limit.
# Returns {0, stock1, left1, ...} or {code, line, had}: 1 sold out, 2 deal sold out,
# 3 deal ended, 4 limit, -1 stock not loaded, -2 deal not loaded, -3 epoch not ours.
_RESERVE = (
    """
local n = (#KEYS - 2) / 3
if redis.call('GET', KEYS[#KEYS - 1]) ~= ARGV[3] then return {-3, 0, 0} end
local buyer = ARGV[1]
local now = tonumber(ARGV[2])
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local q = tonumber(ARGV[a + 2])
  local s = redis.call('GET', KEYS[(i - 1) * 3 + 1])
  if not s then return {-1, i, 0} end
  if ARGV[a + 3] ~= '0' then
    local d = redis.call('HMGET', KEYS[(i - 1) * 3 + 2], 'left', 'open', 'ends_ms')
    if not d[1] then return {-2, i, 0} end
    if d[2] ~= '1' or now >= tonumber(d[3]) then return {3, i, 0} end
    if tonumber(d[1]) < q then return {2, i, 0} end
    local had = tonumber(redis.call('HGET', KEYS[(i - 1) * 3 + 3], buyer) or '0')
    if had + q > tonumber(ARGV[a + 4]) then return {4, i, had} end
  end
  if tonumber(s) < q then return {1, i, 0} end
end
"""
    + _NOW_MS
    + """
local out = {0}
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local q = tonumber(ARGV[a + 2])
  out[#out + 1] = redis.call('DECRBY', KEYS[(i - 1) * 3 + 1], q)
  redis.call('HSET', KEYS[#KEYS], 'p:' .. ARGV[a + 1], now)
  if ARGV[a + 3] ~= '0' then
    out[#out + 1] = redis.call('HINCRBY', KEYS[(i - 1) * 3 + 2], 'left', -q)
    redis.call('HINCRBY', KEYS[(i - 1) * 3 + 3], buyer, q)
    redis.call('HSET', KEYS[#KEYS], 'd:' .. ARGV[a + 3], now)
  else
    out[#out + 1] = -1
  end
end
return out
"""
)

# Same KEYS/ARGV layout; gives units back into loaded counters of the epoch only (a
# counter not loaded will be read from the database, which already has them).
_RELEASE = (
    """
local n = (#KEYS - 2) / 3
if redis.call('GET', KEYS[#KEYS - 1]) ~= ARGV[3] then return {-3} end
local buyer = ARGV[1]
"""
    + _NOW_MS
    + """
local out = {0}
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local q = tonumber(ARGV[a + 2])
  if redis.call('EXISTS', KEYS[(i - 1) * 3 + 1]) == 1 then
    out[#out + 1] = redis.call('INCRBY', KEYS[(i - 1) * 3 + 1], q)
    redis.call('HSET', KEYS[#KEYS], 'p:' .. ARGV[a + 1], now)
  else
    out[#out + 1] = -1
  end
  if ARGV[a + 3] ~= '0' and redis.call('EXISTS', KEYS[(i - 1) * 3 + 2]) == 1 then
    out[#out + 1] = redis.call('HINCRBY', KEYS[(i - 1) * 3 + 2], 'left', q)
    local had = tonumber(redis.call('HGET', KEYS[(i - 1) * 3 + 3], buyer) or '0')
    redis.call('HSET', KEYS[(i - 1) * 3 + 3], buyer, math.max(had - q, 0))
    redis.call('HSET', KEYS[#KEYS], 'd:' .. ARGV[a + 3], now)
  else
    out[#out + 1] = -1
  end
end
return out
"""
)

# KEYS: counter (string, or deal hash's ``left``), changed, epoch.
# ARGV: epoch, changed field, database's figure, quiet ms.
# Returns {0} nothing to do, {1, was} lowered, {2, was} raised, {3} counter gone.
_RECONCILE = (
    """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {0} end
local is_deal = string.sub(ARGV[2], 1, 1) == 'd'
local cur
if is_deal then cur = redis.call('HGET', KEYS[1], 'left') else cur = redis.call('GET', KEYS[1]) end
if not cur then redis.call('HDEL', KEYS[2], ARGV[2]) return {3} end
cur = tonumber(cur)
local db = tonumber(ARGV[3])
if cur == db then return {0} end
"""
    + _NOW_MS
    + """
if cur < db and now - tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') < tonumber(ARGV[4]) then
  return {0}
end
if is_deal then redis.call('HSET', KEYS[1], 'left', db) else redis.call('SET', KEYS[1], db) end
redis.call('HSET', KEYS[2], ARGV[2], now)
if cur > db then return {1, cur} end
return {2, cur}
"""
)

_DEAL_TTL_S = 7 * 24 * 3600
#: A counter below the database's is raised only after this long without a change:
#: until then the difference may be reservations whose orders are still being written.
QUIET_MS = 3000
#: How long a reservation waits for another instance's rebuild before answering 503.
_RECOUNT_WAIT_S = 1.0
#: How long one instance may hold the rebuild lock.
_RECOUNT_LOCK_MS = 10_000
_LIVE = (CANCELLED, EXPIRED)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLedger:
    """Counters in Redis in front of the database's; see the module's notes."""

    transactional = False

    def __init__(
        self,
        redis: Redis,
        prefix: str = "lm:",
        *,
        owns_client: bool = True,
        quiet_ms: int = QUIET_MS,
    ) -> None:
        self._redis = redis
        self._quiet_ms = quiet_ms
        self._owns_client = owns_client
        self._prefix = prefix
        self._epoch_key = prefix + "epoch"
        self._changed_key = prefix + "changed"
        self._epoch = ""
        self._recovering = asyncio.Lock()
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
        self._reconcile = redis.register_script(_RECONCILE)
        # Concurrent reservations share one pipeline (one round trip, one connection);
        # each script still runs alone and atomically inside Redis.
        self._reservations: Batcher[tuple[list[str], list[Any]], list[int]] = Batcher(
            self._reserve_many, max_batch=256, workers=2, name="redis-reserve"
        )

    async def _reserve_many(
        self, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[list[int] | BaseException]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await self._reserve(keys=keys, args=args, client=pipe)
            results = await pipe.execute(raise_on_error=False)
        return [
            result if isinstance(result, BaseException) else [int(x) for x in result]
            for result in results
        ]

    @classmethod
    def from_url(cls, url: str, prefix: str = "lm:") -> RedisLedger:
        return cls(Redis.from_url(url, decode_responses=True), prefix)

    @property
    def epoch(self) -> str:
        """The counters' generation this instance last saw (empty before the first use)."""
        return self._epoch

    def _stock_key(self, product_id: int) -> str:
        return f"{self._prefix}stock:{product_id}"

    def _deal_key(self, deal_id: int) -> str:
        return f"{self._prefix}deal:{deal_id}"

    def _layout(
        self, buyer_key: str, holds: Sequence[Hold], now_ms: int, epoch: str
    ) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [buyer_key, now_ms, epoch]
        for hold in holds:
            deal = self._deal_key(hold.deal_id or 0)
            keys += [self._stock_key(hold.product_id), deal, deal + ":buyers"]
            args += [hold.product_id, hold.quantity, hold.deal_id or 0, hold.per_buyer_limit]
        keys += [self._epoch_key, self._changed_key]
        return keys, args

    async def reserve(
        self, conn: AsyncConnection | None, buyer_key: str, holds: Sequence[Hold], now: datetime
    ) -> list[Remaining]:
        now_ms = int(now.timestamp() * 1000)
        # At most: the epoch once, each line's stock and deal loaded, then the take.
        for _attempt in range(2 + 2 * len(holds)):
            epoch = self._epoch
            keys, args = self._layout(buyer_key, holds, now_ms, epoch)
            result = await self._reservations((keys, args))
            code = result[0]
            if code == 0:
                return [
                    Remaining(
                        hold.product_id,
                        result[1 + 2 * i],
                        hold.deal_id,
                        None if hold.deal_id is None else result[2 + 2 * i],
                        epoch,
                    )
                    for i, hold in enumerate(holds)
                ]
            if code == -3:
                await self._follow_epoch(epoch)
                continue
            hold = holds[result[1] - 1]
            if code < 0 and conn is None:
                raise CountersMissing(f"counters of product {hold.product_id} not in Redis")
            if code == -1:
                assert conn is not None
                await self._load_stock(conn, hold.product_id)
            elif code == -2:
                assert conn is not None and hold.deal_id is not None
                await self._load_deal(conn, hold.deal_id)
            elif code == 1:
                raise sold_out(hold.product_id)
            elif code == 2:
                raise deal_sold_out(hold.product_id, hold.deal_id or 0)
            elif code == 3:
                raise deal_ended(hold.product_id, hold.deal_id or 0)
            else:
                raise limit_reached(hold.product_id, hold.per_buyer_limit, result[2])
        raise stock_unavailable()  # the counters keep changing under us: recounting

    async def _follow_epoch(self, seen: str) -> None:
        """The script refused our epoch: adopt the current one, or start a new one if
        Redis lost it (this instance's requests wait for one rebuild; other
        instances' get ``stock_unavailable`` until it is done)."""
        async with self._recovering:
            if self._epoch != seen:
                return  # another request of ours caught up meanwhile
            current = await self._redis.get(self._epoch_key)
            if current is not None:
                self._epoch = _text(current)
                return
            await self._recount()

    async def _recount(self) -> None:
        lock = self._prefix + "recount"
        token = uuid.uuid4().hex
        if not await self._redis.set(lock, token, nx=True, px=_RECOUNT_LOCK_MS):
            await self._await_recount()  # another instance is at it: a few ms, usually
            return
        try:
            # Leftovers (a failover keeps some) are not trusted: the database is.
            stale = [
                key
                async for key in self._redis.scan_iter(match=self._prefix + "*", count=1000)
                if _text(key) not in (lock, self._epoch_key)
            ]
            for start in range(0, len(stale), 500):
                await self._redis.delete(*stale[start : start + 500])
            epoch = uuid.uuid4().hex
            if await self._redis.set(self._epoch_key, epoch, nx=True):
                self._epoch = epoch
                log.warning(
                    "stock ledger: Redis had lost its counters (no epoch); %d stale keys "
                    "dropped, counters reload from the database (epoch %s)",
                    len(stale),
                    epoch,
                )
            else:
                self._epoch = _text(await self._redis.get(self._epoch_key))
        finally:
            if _text(await self._redis.get(lock) or b"") == token:
                await self._redis.delete(lock)

    async def _await_recount(self) -> None:
        """Adopt the epoch another instance is setting; ``stock_unavailable`` if it takes
        longer than ``_RECOUNT_WAIT_S`` (the client retries after ``Retry-After``)."""
        deadline = asyncio.get_running_loop().time() + _RECOUNT_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            current = await self._redis.get(self._epoch_key)
            if current is not None:
                self._epoch = _text(current)
                return
            await asyncio.sleep(0.05)
        raise stock_unavailable()

    async def _ensure_epoch(self) -> None:
        """Counters are loaded into a generation: join (or start) one first."""
        if not self._epoch:
            await self._follow_epoch("")

    async def _load_stock(self, conn: AsyncConnection, product_id: int) -> None:
        await self._ensure_epoch()
        stock = (
            await conn.execute(select(products.c.stock).where(products.c.id == product_id))
        ).scalar()
        if stock is None:
            raise sold_out(product_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._stock_key(product_id), int(stock), nx=True)
            pipe.hsetnx(self._changed_key, f"p:{product_id}", 0)
            await pipe.execute()

    async def _load_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        row = (
            await conn.execute(
                select(deals.c.quantity, deals.c.sold, deals.c.ends_at, deals.c.ended_at).where(
                    deals.c.id == deal_id
                )
            )
        ).one_or_none()
        if row is None:
            raise deal_ended(0, deal_id)
        await self._ensure_epoch()
        # Each buyer's units from the orders themselves (the per-buyer limit survives).
        held = (
            await conn.execute(
                select(orders.c.buyer_key, func.sum(order_lines.c.quantity))
                .join(order_lines, order_lines.c.order_id == orders.c.id)
                .where(order_lines.c.deal_id == deal_id, orders.c.status.notin_(_LIVE))
                .group_by(orders.c.buyer_key)
            )
        ).all()
        key = self._deal_key(deal_id)
        # All fields in one MULTI, each only if absent: concurrent loaders (this and
        # other instances) write the same values, and no script sees a half-loaded hash.
        async with self._redis.pipeline(transaction=True) as pipe:
            for buyer_key, units in held:
                pipe.hsetnx(key + ":buyers", buyer_key, int(units))
            pipe.hsetnx(key, "left", row.quantity - row.sold)
            pipe.hsetnx(key, "open", 0 if row.ended_at is not None else 1)
            pipe.hsetnx(key, "ends_ms", int(row.ends_at.timestamp() * 1000))
            pipe.hsetnx(self._changed_key, f"d:{deal_id}", 0)
            pipe.expire(key, _DEAL_TTL_S)
            pipe.expire(key + ":buyers", _DEAL_TTL_S)
            await pipe.execute()

    async def release(
        self,
        conn: AsyncConnection | None,
        buyer_key: str,
        holds: Sequence[Hold],
        *,
        epoch: str | None = None,
    ) -> list[Remaining]:
        keys, args = self._layout(buyer_key, holds, 0, self._epoch if epoch is None else epoch)
        result = [int(x) for x in await self._release(keys=keys, args=args)]
        if result[0] == -3:  # counted afresh from the database since: nothing to give back
            return []
        return [
            Remaining(
                hold.product_id,
                result[1 + 2 * i],
                hold.deal_id,
                None if result[2 + 2 * i] < 0 else result[2 + 2 * i],
            )
            for i, hold in enumerate(holds)
            if result[1 + 2 * i] >= 0
        ]

    async def open_deal(
        self, conn: AsyncConnection, deal_id: int, quantity: int, ends_at: datetime
    ) -> None:
        await self._ensure_epoch()
        key = self._deal_key(deal_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={"left": quantity, "open": 1, "ends_ms": int(ends_at.timestamp() * 1000)},
            )
            pipe.hsetnx(self._changed_key, f"d:{deal_id}", 0)
            pipe.expire(key, _DEAL_TTL_S)
            pipe.expire(key + ":buyers", _DEAL_TTL_S)
            await pipe.execute()

    async def close_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        key = self._deal_key(deal_id)
        if await self._redis.exists(key):
            await self._redis.hset(key, "open", 0)

    async def stock(self, conn: AsyncConnection, product_id: int) -> int:
        """What Redis will still let go (loaded from the database if not held yet)."""
        value = await self._redis.get(self._stock_key(product_id))
        if value is None:
            await self._load_stock(conn, product_id)
            value = await self._redis.get(self._stock_key(product_id))
        return int(value or 0)

    async def set_stock(self, conn: AsyncConnection, product_id: int, stock: int) -> None:
        await conn.execute(update(products).where(products.c.id == product_id).values(stock=stock))
        await self._redis.set(self._stock_key(product_id), stock)
        await self._redis.hset(self._changed_key, f"p:{product_id}", 0)

    async def reconcile(self, conn: AsyncConnection) -> list[str]:
        """Bring loaded counters in line with the database's (see the module's notes)."""
        epoch = await self._redis.get(self._epoch_key)
        if epoch is None:  # lost (or first start): recount now, not at the next order
            await self._follow_epoch(self._epoch)
            return []
        fields = [_text(f) for f in await self._redis.hkeys(self._changed_key)]
        product_ids = [int(f[2:]) for f in fields if f.startswith("p:")]
        deal_ids = [int(f[2:]) for f in fields if f.startswith("d:")]
        truth: dict[str, tuple[str, int]] = {}
        if product_ids:
            for pid, stock in await conn.execute(
                select(products.c.id, products.c.stock).where(products.c.id.in_(product_ids))
            ):
                truth[f"p:{pid}"] = (self._stock_key(pid), int(stock))
        if deal_ids:
            for did, left in await conn.execute(
                select(deals.c.id, deals.c.quantity - deals.c.sold).where(deals.c.id.in_(deal_ids))
            ):
                truth[f"d:{did}"] = (self._deal_key(did), int(left))
        fixed = []
        for field, (key, value) in truth.items():
            result = await self._reconcile(
                keys=[key, self._changed_key, self._epoch_key],
                args=[_text(epoch), field, value, self._quiet_ms],
            )
            code = int(result[0])
            if code in (1, 2):
                fixed.append(f"{field} {int(result[1])}->{value}")
        if fixed:
            log.warning("stock ledger reconciled with the database: %s", ", ".join(fixed))
        return fixed

    async def close(self) -> None:
        await self._reservations.close()
        if self._owns_client:
            await self._redis.aclose()
