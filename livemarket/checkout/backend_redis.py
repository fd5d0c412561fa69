"""The scale-out backend: PostgreSQL with the Redis ledger.

Prices come from a cache kept for a moment (:mod:`price_cache`), the Lua script takes
the stock in Redis and the order is group-committed (:mod:`pg_writer`). The stock is
taken in Redis first and given back if the order cannot be written (without the
database: it may be what failed); the database's own counters move in the order's
statement, so the database always holds the durable truth.

The price cache is this backend's own: it drops a product's row when a deal there is
opened or closed, the product is edited (all through :class:`CheckoutBackend`), or
Redis refuses with ``deal_ended``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.backend import CheckoutBackend, OrderRequest
from livemarket.checkout.backend_sql import PRICES
from livemarket.checkout.ledger import (
    CountersMissing,
    Hold,
    Remaining,
    StockLedger,
    deal_sold_out,
    sold_out,
)
from livemarket.checkout.pg_writer import OrderWrite, PgOrderWriter
from livemarket.checkout.price_cache import PriceCache
from livemarket.checkout.push import StockPusher
from livemarket.checkout.sqlite_writer import Earlier, Planner, WritePlan, Written
from livemarket.errors import DomainError, NotFound


class RedisBackend(CheckoutBackend):
    """Cached prices, the Lua reservation, then a group-committed write."""

    def __init__(self, engine: AsyncEngine, ledger: StockLedger, pusher: StockPusher) -> None:
        super().__init__(engine, ledger, pusher)
        self._writer = PgOrderWriter(engine)
        #: Prices and open deals for a moment: an order reads no table.
        self._prices = PriceCache()
        #: Held while a reservation loads missing counters into Redis (one loader at a time).
        self._loading_counters = asyncio.Lock()

    async def _reserve_and_write(
        self, req: OrderRequest, now: datetime, plan: Planner
    ) -> Written | Earlier:
        written = plan(await self._price_rows([item.product_id for item in req.items], now))
        try:
            remaining = await self.ledger.reserve(None, req.buyer_key, written.holds, now)
        except CountersMissing:  # first use of a product or deal: load it from the tables
            remaining = await self._reserve_loading(req.buyer_key, written.holds, now)
        stored = await self._batch_write(req, written, remaining[0].epoch)
        if isinstance(stored, Earlier):
            return stored
        return Written(remaining, stored)

    def _prices_changed(self, product_ids: Iterable[int]) -> None:
        self._prices.forget(product_ids)

    async def _reserve_loading(
        self, buyer_key: str, holds: Sequence[Hold], now: datetime
    ) -> list[Remaining]:
        """Reserve when Redis lacks a counter: one loader at a time (after a Redis restart a
        crowd would otherwise take a database connection each); the others find it loaded."""
        async with self._loading_counters:
            try:
                return await self.ledger.reserve(None, buyer_key, holds, now)
            except CountersMissing:
                async with self.engine.connect() as conn:
                    return await self.ledger.reserve(conn, buyer_key, holds, now)

    async def _price_rows(self, product_ids: list[int], now: datetime) -> Sequence[Any]:
        """The price rows, from the cache when it has them all (one read per miss)."""
        rows = self._prices.get(product_ids, now)
        if rows is not None:
            return rows
        wanted = tuple(product_ids)
        loading = self._prices.loading.get(wanted)
        if loading is not None:  # someone is reading these already: share the answer
            return await asyncio.shield(loading)
        loading = self._prices.loading[wanted] = asyncio.get_running_loop().create_future()
        read_at = self._prices.generation
        try:
            async with self.engine.connect() as conn:
                rows = list((await conn.execute(PRICES, {"ids": product_ids})).all())
            self._prices.put(rows, now, read_at)
            loading.set_result(rows)
        except Exception as exc:
            loading.set_exception(exc)
            loading.exception()  # retrieved: nobody else may be waiting
            raise
        except BaseException:
            loading.cancel()
            raise
        finally:
            del self._prices.loading[wanted]
        return rows

    async def _batch_write(
        self, req: OrderRequest, plan: WritePlan, epoch: str | None
    ) -> int | Earlier:
        """Write through the group-commit writer; the Redis units go back unless written."""
        future = self._writer.submit(OrderWrite(plan.order, plan.lines))
        try:
            outcome: int | Earlier = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The batch decides anyway: wait for its answer so written units are not given back.
            await asyncio.wait([future])
            if (
                future.cancelled()
                or future.exception() is not None
                or not isinstance(future.result(), int)
            ):
                await asyncio.shield(self.give_back(req.buyer_key, plan.holds, epoch))
            raise
        except Exception as exc:
            await asyncio.shield(self.give_back(req.buyer_key, plan.holds, epoch))
            if isinstance(exc, IntegrityError):
                raise _refusal_of(exc, req, plan.holds) from exc
            raise
        if isinstance(outcome, Earlier):  # a retry: this request's units go back
            await asyncio.shield(self.give_back(req.buyer_key, plan.holds, epoch))
        return outcome

    async def close(self) -> None:
        await self._writer.close()
        await super().close()


def _refusal_of(exc: IntegrityError, req: OrderRequest, holds: Sequence[Hold]) -> DomainError:
    """What the database refused: a unit it does not have (its counters' CHECKs: Redis
    let more go than the orders allow, as after a lost Redis), else the special."""
    text = str(exc.orig)
    if "ck_flash_deals_sold" in text:
        hold = next((h for h in holds if h.deal_id is not None), holds[0])
        return deal_sold_out(hold.product_id, hold.deal_id or 0)
    if "ck_products_stock" in text:
        return sold_out(holds[0].product_id)
    return NotFound("special_not_found", f"No special {req.special_id}.")
