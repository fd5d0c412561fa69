"""The Redis stock ledger: one Lua script checks every line, then takes every line.

Redis runs a script alone, so the check-then-take is atomic across all
instances. Counters are loaded from the database the first time a product or
deal is used (``SET NX``, so two instances loading at once agree) and written
back by :meth:`RedisLedger.sync`, which the sweeper calls every second: while a
deal sells, Redis is the truth and the database follows within a second.
Keys (``<prefix>`` lets tests share one Redis):

- ``<prefix>stock:<product_id>``: available units;
- ``<prefix>deal:<deal_id>``: hash ``left``, ``open`` (1/0), ``ends_ms``;
- ``<prefix>deal:<deal_id>:buyers``: hash buyer key → units held;
- ``<prefix>dirty:products`` / ``<prefix>dirty:deals``: ids to write back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select, update
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
)
from livemarket.checkout.tables import deals, products

# KEYS: per line stock, deal, buyers (3 each); then dirty:products, dirty:deals.
# ARGV: buyer, now_ms, then per line product_id, qty, deal_id (0 = none), limit.
# Returns {0, stock1, left1, ...} or {code, line, had}: 1 sold out, 2 deal sold out,
# 3 deal ended, 4 limit, -1 stock not loaded, -2 deal not loaded.
_RESERVE = """
local n = (#KEYS - 2) / 3
local buyer = ARGV[1]
local now = tonumber(ARGV[2])
for i = 1, n do
  local a = 2 + (i - 1) * 4
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
local out = {0}
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local q = tonumber(ARGV[a + 2])
  out[#out + 1] = redis.call('DECRBY', KEYS[(i - 1) * 3 + 1], q)
  redis.call('SADD', KEYS[#KEYS - 1], ARGV[a + 1])
  if ARGV[a + 3] ~= '0' then
    out[#out + 1] = redis.call('HINCRBY', KEYS[(i - 1) * 3 + 2], 'left', -q)
    redis.call('HINCRBY', KEYS[(i - 1) * 3 + 3], buyer, q)
    redis.call('SADD', KEYS[#KEYS], ARGV[a + 3])
  else
    out[#out + 1] = -1
  end
end
return out
"""

# Same KEYS/ARGV layout; gives units back (never below zero for a buyer).
_RELEASE = """
local n = (#KEYS - 2) / 3
local buyer = ARGV[1]
local out = {0}
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local q = tonumber(ARGV[a + 2])
  out[#out + 1] = redis.call('INCRBY', KEYS[(i - 1) * 3 + 1], q)
  redis.call('SADD', KEYS[#KEYS - 1], ARGV[a + 1])
  if ARGV[a + 3] ~= '0' and redis.call('EXISTS', KEYS[(i - 1) * 3 + 2]) == 1 then
    out[#out + 1] = redis.call('HINCRBY', KEYS[(i - 1) * 3 + 2], 'left', q)
    local had = tonumber(redis.call('HGET', KEYS[(i - 1) * 3 + 3], buyer) or '0')
    redis.call('HSET', KEYS[(i - 1) * 3 + 3], buyer, math.max(had - q, 0))
    redis.call('SADD', KEYS[#KEYS], ARGV[a + 3])
  else
    out[#out + 1] = -1
  end
end
return out
"""

_SYNC_BATCH = 500
_DEAL_TTL_S = 7 * 24 * 3600


class RedisLedger:
    """Counters in Redis, written back to the database by :meth:`sync`."""

    transactional = False

    def __init__(self, redis: Redis, prefix: str = "lm:", *, owns_client: bool = True) -> None:
        self._redis = redis
        self._owns_client = owns_client
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
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

    def _stock_key(self, product_id: int) -> str:
        return f"{self._prefix}stock:{product_id}"

    def _deal_key(self, deal_id: int) -> str:
        return f"{self._prefix}deal:{deal_id}"

    def _layout(
        self, buyer_key: str, holds: Sequence[Hold], now_ms: int
    ) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [buyer_key, now_ms]
        for hold in holds:
            deal = self._deal_key(hold.deal_id or 0)
            keys += [self._stock_key(hold.product_id), deal, deal + ":buyers"]
            args += [hold.product_id, hold.quantity, hold.deal_id or 0, hold.per_buyer_limit]
        keys += [self._prefix + "dirty:products", self._prefix + "dirty:deals"]
        return keys, args

    async def reserve(
        self, conn: AsyncConnection | None, buyer_key: str, holds: Sequence[Hold], now: datetime
    ) -> list[Remaining]:
        keys, args = self._layout(buyer_key, holds, int(now.timestamp() * 1000))
        for _attempt in range(3):
            result = await self._reservations((keys, args))
            code = result[0]
            if code == 0:
                return [
                    Remaining(
                        hold.product_id,
                        result[1 + 2 * i],
                        hold.deal_id,
                        None if hold.deal_id is None else result[2 + 2 * i],
                    )
                    for i, hold in enumerate(holds)
                ]
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
        raise RuntimeError("stock counters could not be loaded into Redis")

    async def _load_stock(self, conn: AsyncConnection, product_id: int) -> None:
        stock = (
            await conn.execute(select(products.c.stock).where(products.c.id == product_id))
        ).scalar()
        if stock is None:
            raise sold_out(product_id)
        await self._redis.set(self._stock_key(product_id), int(stock), nx=True)

    async def _load_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        row = (
            await conn.execute(
                select(deals.c.quantity, deals.c.sold, deals.c.ends_at, deals.c.ended_at).where(
                    deals.c.id == deal_id
                )
            )
        ).one()
        key = self._deal_key(deal_id)
        # All fields in one MULTI, each only if absent: concurrent loaders (this and
        # other instances) write the same values, and no script sees a half-loaded hash.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "left", row.quantity - row.sold)
            pipe.hsetnx(key, "open", 0 if row.ended_at is not None else 1)
            pipe.hsetnx(key, "ends_ms", int(row.ends_at.timestamp() * 1000))
            pipe.expire(key, _DEAL_TTL_S)
            await pipe.execute()

    async def release(
        self, conn: AsyncConnection, buyer_key: str, holds: Sequence[Hold]
    ) -> list[Remaining]:
        keys, args = self._layout(buyer_key, holds, 0)
        for hold in holds:  # a release after a Redis restart must not create a bogus counter
            if not await self._redis.exists(self._stock_key(hold.product_id)):
                await self._load_stock(conn, hold.product_id)
        result = [int(x) for x in await self._release(keys=keys, args=args)]
        return [
            Remaining(
                hold.product_id,
                result[1 + 2 * i],
                hold.deal_id,
                None if result[2 + 2 * i] < 0 else result[2 + 2 * i],
            )
            for i, hold in enumerate(holds)
        ]

    async def open_deal(
        self, conn: AsyncConnection, deal_id: int, quantity: int, ends_at: datetime
    ) -> None:
        key = self._deal_key(deal_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={"left": quantity, "open": 1, "ends_ms": int(ends_at.timestamp() * 1000)},
            )
            pipe.expire(key, _DEAL_TTL_S)
            pipe.expire(key + ":buyers", _DEAL_TTL_S)
            await pipe.execute()

    async def close_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        key = self._deal_key(deal_id)
        if await self._redis.exists(key):
            await self._redis.hset(key, "open", 0)
        await self._sync_deal(conn, deal_id)

    async def stock(self, conn: AsyncConnection, product_id: int) -> int:
        value = await self._redis.get(self._stock_key(product_id))
        if value is None:
            await self._load_stock(conn, product_id)
            value = await self._redis.get(self._stock_key(product_id))
        return int(value or 0)

    async def set_stock(self, conn: AsyncConnection, product_id: int, stock: int) -> None:
        await conn.execute(update(products).where(products.c.id == product_id).values(stock=stock))
        await self._redis.set(self._stock_key(product_id), stock)

    async def sync(self, conn: AsyncConnection) -> None:
        """Write dirty product stock and deal ``sold`` counts back to the database."""
        product_ids = await self._redis.spop(self._prefix + "dirty:products", _SYNC_BATCH)
        for product_id in product_ids or ():
            value = await self._redis.get(self._stock_key(int(product_id)))
            if value is not None:
                await conn.execute(
                    update(products)
                    .where(products.c.id == int(product_id))
                    .values(stock=int(value))
                )
        deal_ids = await self._redis.spop(self._prefix + "dirty:deals", _SYNC_BATCH)
        for deal_id in deal_ids or ():
            await self._sync_deal(conn, int(deal_id))

    async def _sync_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        left = await self._redis.hget(self._deal_key(deal_id), "left")
        if left is not None:
            await conn.execute(
                update(deals).where(deals.c.id == deal_id).values(sold=deals.c.quantity - int(left))
            )

    async def close(self) -> None:
        await self._reservations.close()
        if self._owns_client:
            await self._redis.aclose()
