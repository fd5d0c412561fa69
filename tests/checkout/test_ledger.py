"""Stock ledger races on SQLite, PostgreSQL and Redis: exactly the available units sell."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.ledger import Hold, Remaining, StockLedger
from livemarket.checkout.ledger_redis import RedisLedger
from livemarket.checkout.tables import deals, products
from livemarket.errors import DomainError
from tests.conftest import forget_redis_keys

from .checkout_seed import NOW, Seed, seed_special


async def attempt(
    engine: AsyncEngine, ledger: StockLedger, buyer: str, holds: Sequence[Hold]
) -> str:
    """One buyer's reservation in its own transaction: ``ok`` or the refusal's code."""
    try:
        async with engine.begin() as conn:
            await ledger.reserve(conn, buyer, holds, NOW)
    except DomainError as exc:
        return exc.code
    return "ok"


async def race(
    engine: AsyncEngine, ledger: StockLedger, tries: Sequence[tuple[str, Sequence[Hold]]]
) -> Counter[str]:
    return Counter(await asyncio.gather(*(attempt(engine, ledger, b, h) for b, h in tries)))


async def stock_of(engine: AsyncEngine, ledger: StockLedger, product_id: int) -> int:
    async with engine.begin() as conn:
        return await ledger.stock(conn, product_id)


async def test_race_sells_exactly_the_stock(
    engine: AsyncEngine, ledger: StockLedger, seed: Seed
) -> None:
    """150 buyers race for 40 units: exactly 40 succeed, 110 are refused as sold out."""
    product_id = await seed.product(stock=40)
    result = await race(engine, ledger, [(f"b{i}", [Hold(product_id, 1)]) for i in range(150)])
    assert result == Counter({"ok": 40, "sold_out": 110})
    assert await stock_of(engine, ledger, product_id) == 0
    if ledger.transactional:  # with Redis the order writer moves the database's counters
        async with engine.connect() as conn:
            assert (
                await conn.execute(select(products.c.stock).where(products.c.id == product_id))
            ).scalar_one() == 0


async def test_race_on_a_deal_sells_exactly_its_quantity(
    engine: AsyncEngine, ledger: StockLedger, seed: Seed
) -> None:
    """120 buyers race for a 25-unit deal on a 100-unit product: 25 sold, stock 75."""
    product_id = await seed.product(stock=100)
    deal_id = await seed.deal(product_id, quantity=25, limit=2)
    if isinstance(ledger, RedisLedger):
        async with engine.begin() as conn:
            await ledger.open_deal(conn, deal_id, 25, NOW.replace(hour=12))
    tries = [(f"b{i}", [Hold(product_id, 1, deal_id, 2)]) for i in range(120)]
    result = await race(engine, ledger, tries)
    assert result == Counter({"ok": 25, "deal_sold_out": 95})
    assert await stock_of(engine, ledger, product_id) == 75
    if ledger.transactional:
        async with engine.connect() as conn:
            sold = (await conn.execute(select(deals.c.sold).where(deals.c.id == deal_id))).scalar()
        assert sold == 25


async def test_per_buyer_limit_holds_across_concurrent_tabs(
    engine: AsyncEngine, ledger: StockLedger, seed: Seed
) -> None:
    """10 buyers each fire 4 concurrent one-unit tries at a limit of 2: 20 sold, 20 refused."""
    product_id = await seed.product(stock=100)
    deal_id = await seed.deal(product_id, quantity=50, limit=2)
    tries = [(f"b{i}", [Hold(product_id, 1, deal_id, 2)]) for i in range(10) for _ in range(4)]
    result = await race(engine, ledger, tries)
    assert result == Counter({"ok": 20, "deal_limit_reached": 20})
    assert await stock_of(engine, ledger, product_id) == 80


async def test_multi_line_reservation_is_all_or_nothing(
    engine: AsyncEngine, ledger: StockLedger, seed: Seed
) -> None:
    """When the second line is sold out, the first line's units are not taken either."""
    plenty = await seed.product(stock=10)
    scarce = await seed.product(stock=1)
    code = await attempt(engine, ledger, "b", [Hold(plenty, 2), Hold(scarce, 2)])
    assert code == "sold_out"
    assert await stock_of(engine, ledger, plenty) == 10
    assert await stock_of(engine, ledger, scarce) == 1


async def test_release_returns_stock_deal_units_and_buyer_allowance(
    engine: AsyncEngine, ledger: StockLedger, seed: Seed
) -> None:
    """A released hold gives the units back to the product, the deal and the buyer's limit."""
    product_id = await seed.product(stock=5)
    deal_id = await seed.deal(product_id, quantity=3, limit=2)
    if isinstance(ledger, RedisLedger):
        async with engine.begin() as conn:
            await ledger.open_deal(conn, deal_id, 3, NOW.replace(hour=12))
    hold = Hold(product_id, 2, deal_id, 2)
    assert await attempt(engine, ledger, "b", [hold]) == "ok"
    assert await attempt(engine, ledger, "b", [Hold(product_id, 1, deal_id, 2)]) == (
        "deal_limit_reached"
    )
    async with engine.begin() as conn:
        left: list[Remaining] = await ledger.release(conn, "b", [hold])
    assert left == [Remaining(product_id, 5, deal_id, 3)]
    assert await attempt(engine, ledger, "b", [hold]) == "ok"


async def test_ended_deal_refuses(engine: AsyncEngine, ledger: StockLedger, seed: Seed) -> None:
    """A reservation on a deal past its end is refused as ``deal_ended``."""
    product_id = await seed.product(stock=5)
    deal_id = await seed.deal(product_id, quantity=3, minutes=-0)
    if isinstance(ledger, RedisLedger):
        async with engine.begin() as conn:
            await ledger.open_deal(conn, deal_id, 3, NOW)
    assert await attempt(engine, ledger, "b", [Hold(product_id, 1, deal_id, 2)]) == "deal_ended"


async def test_redis_counters_load_from_the_database_once(
    sqlite_engine: AsyncEngine, redis_url: str, redis_prefix: str
) -> None:
    """Two Redis ledgers (two instances) share the counter loaded from the database."""
    seed = await seed_special(sqlite_engine)
    product_id = await seed.product(stock=3)
    first = RedisLedger(Redis.from_url(redis_url, decode_responses=True), redis_prefix)
    second = RedisLedger(Redis.from_url(redis_url, decode_responses=True), redis_prefix)
    try:
        tries = [(first if i % 2 else second, f"b{i}") for i in range(10)]
        results = await asyncio.gather(
            *(attempt(sqlite_engine, led, b, [Hold(product_id, 1)]) for led, b in tries)
        )
        assert Counter(results) == Counter({"ok": 3, "sold_out": 7})
    finally:
        await forget_redis_keys(redis_url, redis_prefix)
        await first.close()
        await second.close()
