"""Each deployment gets its backend, and the backend's caches keep themselves true: a
change made through checkout is seen by the very next order, with no caller dropping
anything and no clock moving (the caches' windows are 1 s)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.memory import InProcessBus
from livemarket.checkout.backend_embedded import EmbeddedBackend
from livemarket.checkout.backend_redis import RedisBackend
from livemarket.checkout.backend_sql import TransactionBackend
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import end_deal
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.orders import change_status
from livemarket.checkout.push import StockPusher
from livemarket.checkout.states import CANCELLED
from livemarket.errors import DomainError
from livemarket.storage.engine import session_factory

from .checkout_seed import Seed
from .test_order_fast_paths import refused
from .test_orders import deal, order, stock


def test_each_deployment_gets_its_backend(
    engine: AsyncEngine, ledger: StockLedger, ctx: CheckoutContext
) -> None:
    """A SQLite file with the SQL ledger is embedded; PostgreSQL with Redis scales out."""
    on_sqlite = engine.dialect.name == "sqlite"
    if on_sqlite and ledger.transactional:
        assert isinstance(ctx.backend, EmbeddedBackend)
    elif not on_sqlite and not ledger.transactional:
        assert isinstance(ctx.backend, RedisBackend)
    else:
        assert isinstance(ctx.backend, TransactionBackend)


async def test_a_price_edit_prices_the_next_order(ctx: CheckoutContext, seed: Seed) -> None:
    product_id = await seed.product(stock=20)
    before = await order(ctx, "edit-before", (product_id, 1))  # the price is cached now
    sessions = session_factory(ctx.engine)
    async with sessions() as db:
        await ctx.backend.update_product(db, product_id, price=15_000)
    after = await order(ctx, "edit-after", (product_id, 1))
    assert [p.order["lines"][0]["unit_price"] for p in (before, after)] == [12_900, 15_000]


async def test_a_deal_sold_out_prices_the_next_order_at_list(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """The order taking a deal's last unit ends it; the next buyer pays the list price."""
    product_id = await seed.product(stock=20)
    await deal(ctx, seed, product_id, quantity=1)
    last = await order(ctx, "deal-last", (product_id, 1))
    after = await order(ctx, "deal-after", (product_id, 1), who="v:2")
    lines = [p.order["lines"][0] for p in (last, after)]
    assert [(line["unit_price"], line["deal_id"] is None) for line in lines] == [
        (9_030, False),
        (12_900, True),
    ]


async def test_a_cancelled_order_sells_again_at_once(ctx: CheckoutContext, seed: Seed) -> None:
    """A refusal remembered a moment ago does not outlive a cancellation's returned unit."""
    product_id = await seed.product(stock=1)
    first = await order(ctx, "cancel-buy-1", (product_id, 1))
    assert await refused(ctx, "cancel-try-1", product_id) == "sold_out"
    await change_status(ctx, first.order["id"], CANCELLED)
    assert (await order(ctx, "cancel-buy-2", (product_id, 1), who="v:3")).created
    assert await stock(ctx, product_id) == 0


async def test_stock_set_by_an_operator_sells_at_once(ctx: CheckoutContext, seed: Seed) -> None:
    product_id = await seed.product(stock=1)
    await order(ctx, "restock-buy-1", (product_id, 1))
    assert await refused(ctx, "restock-try-1", product_id) == "sold_out"
    await ctx.backend.set_stock(product_id, 2)
    assert (await order(ctx, "restock-buy-2", (product_id, 2), who="v:3")).created
    with pytest.raises(DomainError) as caught:
        await order(ctx, "restock-try-2", (product_id, 1), who="v:4")
    assert caught.value.code == "sold_out"


async def test_a_deal_ended_by_another_instance_stops_pricing_within_one_refusal(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """Another instance ends the deal: this one's cached price may still show it once, the
    ledger refuses that order (``deal_ended``) and the next is priced at list."""
    product_id = await seed.product(stock=20)
    started = await deal(ctx, seed, product_id)
    await order(ctx, "elsewhere-during", (product_id, 1))  # the deal's price is cached now
    bus = InProcessBus()
    other = CheckoutContext(ctx.engine, ctx.ledger, bus, ctx.clock, ctx.settings, StockPusher(bus))
    try:
        await end_deal(other, started.id)
    finally:
        await other.close()
    refusals: list[str] = []
    for attempt in range(2):
        try:
            placed = await order(ctx, f"elsewhere-after-{attempt}", (product_id, 1))
            break
        except DomainError as exc:
            refusals.append(exc.code)
    assert placed.order["lines"][0]["unit_price"] == 12_900
    assert refusals in ([], ["deal_ended"])
