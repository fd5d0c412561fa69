"""The order path's shortcuts on each database and ledger: sold-out memo, twins, batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.memory import InProcessBus
from livemarket.checkout.backend_embedded import EmbeddedBackend
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import end_deal
from livemarket.checkout.ledger_sql import SqlLedger
from livemarket.checkout.orders import OrderItem, expire_due_holds, place_order
from livemarket.checkout.push import StockPusher
from livemarket.errors import DomainError
from tests.conftest import build_settings

from .checkout_seed import FakeClock, Seed, seed_special
from .test_orders import BUYER, deal, order, stock


async def refused(ctx: CheckoutContext, key: str, product_id: int, who: str = "v:2") -> str:
    with pytest.raises(DomainError) as caught:
        await order(ctx, key, (product_id, 1), who=who)
    return caught.value.code


async def test_sold_out_product_sells_again_after_a_hold_expires(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """Refusals answered from the sold-out memo stop as soon as an expired hold returns stock."""
    product_id = await seed.product(stock=1)
    await order(ctx, "memo-buy-1", (product_id, 1))
    assert await refused(ctx, "memo-try-1", product_id) == "sold_out"
    assert ctx.backend.check_sold_out([OrderItem(product_id, 1)], clock()).known_short == product_id
    assert await refused(ctx, "memo-try-2", product_id) == "sold_out"  # from the memo
    clock.advance(minutes=10)
    assert await expire_due_holds(ctx) == 1
    placed = await order(ctx, "memo-buy-2", (product_id, 1), who="v:2")
    assert placed.created
    assert await stock(ctx, product_id) == 0


async def test_memo_refusals_never_outlive_its_window(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """Stock returned behind this process's back is sold again once the memo's window passes."""
    product_id = await seed.product(stock=1)
    await order(ctx, "window-buy-1", (product_id, 1))
    assert await refused(ctx, "window-try-1", product_id) == "sold_out"
    async with ctx.engine.begin() as conn:  # as another instance would: no local notice
        await ctx.ledger.set_stock(conn, product_id, 1)
    for second in range(3):  # refusals inside the window do not extend it
        clock.advance(milliseconds=300)
        assert await refused(ctx, f"window-try-{second + 2}", product_id) == "sold_out"
    clock.advance(milliseconds=200)
    assert (await order(ctx, "window-buy-2", (product_id, 1), who="v:3")).created


async def test_retry_answered_by_the_memo_still_returns_the_order(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """A retried key whose order exists gets that order even while the product is sold out."""
    product_id = await seed.product(stock=1)
    first = await order(ctx, "memo-retry-1", (product_id, 1))
    assert await refused(ctx, "memo-retry-other", product_id) == "sold_out"
    again = await order(ctx, "memo-retry-1", (product_id, 1))
    assert not again.created
    assert again.order["id"] == first.order["id"]


async def test_concurrent_twins_at_sell_out_get_the_same_order(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """Two requests with one key racing for the last unit both answer with the one order."""
    product_id = await seed.product(stock=1)
    twins = await asyncio.gather(
        *(order(ctx, "twin-at-sellout", (product_id, 1)) for _ in range(2)),
        return_exceptions=True,
    )
    assert all(not isinstance(t, BaseException) for t in twins), twins
    assert twins[0].order["id"] == twins[1].order["id"]
    assert sorted(t.created for t in twins) == [False, True]
    assert await stock(ctx, product_id) == 0


async def test_a_bad_order_among_concurrent_ones_fails_alone(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """One order naming no special is refused; the orders written beside it stand."""
    product_id = await seed.product(stock=10)

    async def attempt(i: int) -> str:
        try:
            await place_order(
                ctx,
                buyer_key=f"v:{i}",
                idempotency_key=f"beside-bad-{i}",
                items=[OrderItem(product_id, 1)],
                buyer=BUYER,
                special_id=99_999 if i == 3 else seed.special_id,
            )
        except DomainError as exc:
            return exc.code
        return "ok"

    results = await asyncio.gather(*(attempt(i) for i in range(6)))
    assert results == ["ok", "ok", "ok", "special_not_found", "ok", "ok"]
    assert await stock(ctx, product_id) == 5


async def test_a_deal_started_here_prices_the_very_next_order(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """Starting or ending a deal drops the cached prices: the next order sees the change."""
    product_id = await seed.product(stock=20)
    before = await order(ctx, "cache-before", (product_id, 1))
    started = await deal(ctx, seed, product_id)
    during = await order(ctx, "cache-during", (product_id, 1))
    await end_deal(ctx, started.id)
    after = await order(ctx, "cache-after", (product_id, 1))
    prices = [p.order["lines"][0]["unit_price"] for p in (before, during, after)]
    assert prices == [12_900, 9_030, 12_900]


@pytest.fixture
async def embedded(
    sqlite_engine: AsyncEngine, clock: FakeClock, tmp_path: Any
) -> AsyncIterator[tuple[CheckoutContext, Seed]]:
    """The embedded mode's checkout: a SQLite file, its writer thread and the SQL ledger."""
    ctx = _embedded_ctx(sqlite_engine, clock, tmp_path)
    assert isinstance(ctx.backend, EmbeddedBackend)
    yield ctx, await seed_special(sqlite_engine)
    await ctx.close()


def _embedded_ctx(engine: AsyncEngine, clock: FakeClock, tmp_path: Any) -> CheckoutContext:
    bus = InProcessBus()
    return CheckoutContext(
        engine=engine,
        ledger=SqlLedger(),
        bus=bus,
        clock=clock,
        settings=build_settings(tmp_path),
        pusher=StockPusher(bus),
    )


async def test_embedded_refusals_look_up_no_key_in_the_database(
    embedded: tuple[CheckoutContext, Seed],
) -> None:
    """The sole writer knows every stored key: a fresh key's refusal runs no orders query."""
    ctx, seed = embedded
    product_id = await seed.product(stock=1)
    await order(ctx, "known-1", (product_id, 1))
    assert await refused(ctx, "known-try-1", product_id) == "sold_out"  # loads the keys
    queries: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        queries.append(statement)

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", note)
    try:
        for attempt in range(5):
            assert await refused(ctx, f"known-try-{attempt + 2}", product_id) == "sold_out"
        assert [q for q in queries if "orders" in q] == []
        again = await order(ctx, "known-1", (product_id, 1))  # a retry is still found
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", note)
    assert not again.created


async def test_embedded_key_set_reads_orders_stored_before_it_started(
    embedded: tuple[CheckoutContext, Seed], clock: FakeClock, tmp_path: Any
) -> None:
    """After a restart the first refusal reads the table's keys: an old retry gets its order."""
    ctx, seed = embedded
    product_id = await seed.product(stock=1)
    first = await order(ctx, "before-restart", (product_id, 1))
    restarted = _embedded_ctx(ctx.engine, clock, tmp_path)
    try:
        assert await refused(restarted, "after-restart", product_id) == "sold_out"
        again = await order(restarted, "before-restart", (product_id, 1))
    finally:
        await restarted.close()
    assert again.order["id"] == first.order["id"] and not again.created
