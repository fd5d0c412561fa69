"""The Redis ledger after losing its counters, and its reconciliation with the database.

The database's counters are the truth (the order writer moves them with each
order); here they are set by hand where an order would have been written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.ledger import Hold
from livemarket.checkout.ledger_redis import RedisLedger
from livemarket.checkout.tables import products
from tests.conftest import forget_redis_keys

from .checkout_seed import NOW, seed_special


@pytest.fixture
async def ledger(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisLedger]:
    made = RedisLedger(Redis.from_url(redis_url, decode_responses=True), redis_prefix, quiet_ms=300)
    yield made
    await forget_redis_keys(redis_url, redis_prefix)
    await made.close()


async def _set_stock(engine: AsyncEngine, product_id: int, stock: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(products).where(products.c.id == product_id).values(stock=stock))


async def _redis_stock(ledger: RedisLedger, engine: AsyncEngine, product_id: int) -> int:
    async with engine.connect() as conn:
        return await ledger.stock(conn, product_id)


async def test_lost_counters_reload_from_the_database_and_old_give_backs_do_not_count(
    sqlite_engine: AsyncEngine, ledger: RedisLedger, redis_url: str, redis_prefix: str
) -> None:
    seed = await seed_special(sqlite_engine)
    product_id = await seed.product(stock=10)
    async with sqlite_engine.connect() as conn:
        taken = await ledger.reserve(conn, "b1", [Hold(product_id, 3)], NOW)
    old_epoch = taken[0].epoch
    await _set_stock(sqlite_engine, product_id, 7)  # the order was written
    await forget_redis_keys(redis_url, redis_prefix)  # Redis restarted empty

    async with sqlite_engine.connect() as conn:
        again = await ledger.reserve(conn, "b2", [Hold(product_id, 1)], NOW)
    assert again[0].stock == 6  # 7 from the database, not 10 nor a leftover
    assert again[0].epoch != old_epoch
    # A reservation of the lost generation whose order failed: not given back twice.
    assert await ledger.release(None, "b1", [Hold(product_id, 3)], epoch=old_epoch) == []
    assert await _redis_stock(ledger, sqlite_engine, product_id) == 6


async def test_reconcile_lowers_a_counter_above_the_database_at_once(
    sqlite_engine: AsyncEngine, ledger: RedisLedger
) -> None:
    seed = await seed_special(sqlite_engine)
    product_id = await seed.product(stock=10)
    assert await _redis_stock(ledger, sqlite_engine, product_id) == 10
    await _set_stock(sqlite_engine, product_id, 4)  # sold while Redis missed it
    async with sqlite_engine.connect() as conn:
        fixed = await ledger.reconcile(conn)
    assert fixed == [f"p:{product_id} 10->4"]
    assert await _redis_stock(ledger, sqlite_engine, product_id) == 4


async def test_reconcile_gives_back_units_no_order_holds_once_quiet(
    sqlite_engine: AsyncEngine, ledger: RedisLedger
) -> None:
    """Units taken by an instance that died before writing the order come back, but only
    once nothing changed for the quiet time (until then they may still be written)."""
    import asyncio

    seed = await seed_special(sqlite_engine)
    product_id = await seed.product(stock=10)
    async with sqlite_engine.connect() as conn:
        await ledger.reserve(conn, "b1", [Hold(product_id, 2)], NOW)
        assert await ledger.reconcile(conn) == []  # maybe still being written
    assert await _redis_stock(ledger, sqlite_engine, product_id) == 8
    await asyncio.sleep(0.4)
    async with sqlite_engine.connect() as conn:
        assert await ledger.reconcile(conn) == [f"p:{product_id} 8->10"]
    assert await _redis_stock(ledger, sqlite_engine, product_id) == 10
