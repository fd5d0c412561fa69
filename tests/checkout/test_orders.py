"""Order and deal services on each database and ledger: pricing, idempotency, holds, pushes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from livemarket.bus.events import special_topic
from livemarket.checkout.buyer import validate_buyer
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import active_deals, end_deal, start_deal
from livemarket.checkout.orders import (
    OrderItem,
    change_status,
    expire_due_holds,
    get_order,
    place_order,
)
from livemarket.checkout.sweeper import sweep_once
from livemarket.checkout.tables import products
from livemarket.errors import DomainError

from .checkout_seed import FakeClock, Recorder, Seed

BUYER = validate_buyer("김민수", "010-1234-5678", "서울특별시 중구 세종대로 110")


async def order(ctx: CheckoutContext, key: str, *items: tuple[int, int], who: str = "v:1") -> Any:
    return await place_order(
        ctx,
        buyer_key=who,
        idempotency_key=key,
        items=[OrderItem(p, q) for p, q in items],
        buyer=BUYER,
    )


async def stock(ctx: CheckoutContext, product_id: int) -> int:
    async with ctx.engine.begin() as conn:
        return await ctx.ledger.stock(conn, product_id)


async def deal(ctx: CheckoutContext, seed: Seed, product_id: int, **kw: Any) -> Any:
    args: dict[str, Any] = {"discount_pct": 30, "duration_s": 300, "quantity": 10}
    args.update(kw)
    return await start_deal(ctx, special_id=seed.special_id, product_id=product_id, **args)


async def test_order_gets_deal_price_and_records_the_deal(ctx: CheckoutContext, seed: Seed) -> None:
    """During a 30% deal a line costs 9,030 won (not 12,900) and names the deal."""
    product_id = await seed.product(stock=50)
    started = await deal(ctx, seed, product_id)
    placed = await order(ctx, "key-00001", (product_id, 2))
    assert placed.created
    assert placed.order["lines"] == [
        {
            "product_id": product_id,
            "quantity": 2,
            "unit_price": 9_030,
            "list_price": 12_900,
            "deal_id": started.id,
        }
    ]
    assert placed.order["total"] == 18_060
    assert placed.order["special_id"] == seed.special_id
    assert await stock(ctx, product_id) == 48


async def test_list_price_without_a_deal(ctx: CheckoutContext, seed: Seed) -> None:
    """Without an active deal a line costs the list price and has no deal."""
    product_id = await seed.product(stock=5)
    placed = await order(ctx, "key-00002", (product_id, 1))
    assert placed.order["lines"][0]["unit_price"] == 12_900
    assert placed.order["lines"][0]["deal_id"] is None


async def test_retry_with_same_key_returns_the_same_order(ctx: CheckoutContext, seed: Seed) -> None:
    """A retried request returns the first order and takes no more stock."""
    product_id = await seed.product(stock=5)
    first = await order(ctx, "retry-key-1", (product_id, 2))
    again = await order(ctx, "retry-key-1", (product_id, 2))
    assert not again.created
    assert again.order["id"] == first.order["id"]
    assert await stock(ctx, product_id) == 3


async def test_retry_after_sell_out_still_returns_the_order(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """A retry of the order that bought the last unit is the order, not ``sold_out``."""
    product_id = await seed.product(stock=1)
    first = await order(ctx, "last-unit-1", (product_id, 1))
    again = await order(ctx, "last-unit-1", (product_id, 1))
    assert again.order["id"] == first.order["id"]


async def test_same_key_for_another_order_is_refused(ctx: CheckoutContext, seed: Seed) -> None:
    """Reusing an Idempotency-Key for different items is refused and takes nothing."""
    product_id = await seed.product(stock=5)
    await order(ctx, "reused-key", (product_id, 1))
    with pytest.raises(DomainError) as caught:
        await order(ctx, "reused-key", (product_id, 3))
    assert caught.value.code == "idempotency_key_reused"
    assert await stock(ctx, product_id) == 4


async def test_same_key_from_another_buyer_is_another_order(
    ctx: CheckoutContext, seed: Seed
) -> None:
    """Keys are per buyer: another viewer's identical key does not return someone's order."""
    product_id = await seed.product(stock=5)
    mine = await order(ctx, "shared-key", (product_id, 1), who="v:a")
    theirs = await order(ctx, "shared-key", (product_id, 1), who="v:b")
    assert mine.order["id"] != theirs.order["id"]


async def test_hold_expiry_returns_stock_and_buyer_allowance(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """An unpaid hold expires after the hold period and its units return to stock and deal."""
    product_id = await seed.product(stock=10)
    await deal(ctx, seed, product_id, quantity=4, per_buyer_limit=2, duration_s=3600)
    placed = await order(ctx, "hold-key-1", (product_id, 2))
    with pytest.raises(DomainError, match="per buyer"):
        await order(ctx, "hold-key-2", (product_id, 1))
    clock.advance(minutes=9, seconds=59)
    assert await expire_due_holds(ctx) == 0
    clock.advance(seconds=1)
    assert await expire_due_holds(ctx) == 1
    assert (await get_order(ctx, placed.order["id"]))["status"] == "expired"
    assert await stock(ctx, product_id) == 10
    again = await order(ctx, "hold-key-3", (product_id, 2))  # the allowance came back too
    assert again.order["lines"][0]["deal_id"] is not None


async def test_paid_order_is_not_expired_and_payment_is_idempotent(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """Marking paid twice changes it once; a paid order keeps its stock past the hold."""
    product_id = await seed.product(stock=3)
    placed = await order(ctx, "pay-key-1", (product_id, 1))
    paid = await change_status(ctx, placed.order["id"], "paid", reference="TX-1")
    again = await change_status(ctx, placed.order["id"], "paid", reference="TX-2")
    assert (paid["status"], again["status"]) == ("paid", "paid")
    assert again["payment_ref"] == "TX-1"
    clock.advance(minutes=30)
    assert await expire_due_holds(ctx) == 0
    assert await stock(ctx, product_id) == 2
    assert (await change_status(ctx, placed.order["id"], "fulfilled"))["status"] == "fulfilled"


async def test_expired_order_cannot_be_paid(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """After its hold expired an order cannot be marked paid (its stock went back)."""
    product_id = await seed.product(stock=3)
    placed = await order(ctx, "late-pay-1", (product_id, 1))
    clock.advance(minutes=11)
    await expire_due_holds(ctx)
    with pytest.raises(DomainError) as caught:
        await change_status(ctx, placed.order["id"], "paid")
    assert caught.value.code == "order_expired"


async def test_cancel_returns_stock(ctx: CheckoutContext, seed: Seed) -> None:
    """Cancelling a reserved order gives its units back at once."""
    product_id = await seed.product(stock=3)
    placed = await order(ctx, "cancel-key", (product_id, 3))
    assert await stock(ctx, product_id) == 0
    await change_status(ctx, placed.order["id"], "cancelled")
    assert await stock(ctx, product_id) == 3


async def test_deal_ending_during_checkout_keeps_the_reserved_price(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """An order reserved in a deal keeps the deal price after the deal ends, and says so."""
    product_id = await seed.product(stock=10)
    started = await deal(ctx, seed, product_id, duration_s=60)
    placed = await order(ctx, "during-deal", (product_id, 1))
    clock.advance(seconds=61)
    await sweep_once(ctx)
    view = await get_order(ctx, placed.order["id"])
    assert view["lines"][0]["unit_price"] == started.price
    assert view["notes"][0]["code"] == "deal_price_held"
    assert view["notes"][0]["until"] == view["hold_expires_at"]
    later = await order(ctx, "after-deal", (product_id, 1))
    assert later.order["lines"][0]["unit_price"] == 12_900


async def test_deal_start_and_end_are_pushed(ctx: CheckoutContext, seed: Seed) -> None:
    """Starting a deal publishes ``deal.started``; ending it publishes ``deal.ended`` once."""
    recorder = Recorder()
    ctx.bus.subscribe(special_topic(seed.special_id), recorder)
    product_id = await seed.product(stock=10)
    started = await deal(ctx, seed, product_id, quantity=5)
    assert recorder.of("deal.started")[0]["deal_id"] == started.id
    assert recorder.of("deal.started")[0]["remaining"] == 5
    assert [d["deal_id"] for d in await active_deals(ctx, seed.special_id)] == [started.id]
    await end_deal(ctx, started.id)
    await end_deal(ctx, started.id)
    assert [e["deal_id"] for e in recorder.of("deal.ended")] == [started.id]
    assert await active_deals(ctx, seed.special_id) == []


async def test_deal_sold_out_ends_itself(ctx: CheckoutContext, seed: Seed) -> None:
    """The order taking a deal's last unit ends the deal (``sold_out``) and pushes stock."""
    recorder = Recorder()
    ctx.bus.subscribe(special_topic(seed.special_id), recorder)
    product_id = await seed.product(stock=10)
    await deal(ctx, seed, product_id, quantity=2, per_buyer_limit=2)
    await order(ctx, "sell-out-1", (product_id, 2))
    assert recorder.of("deal.ended")[0]["reason"] == "sold_out"
    await ctx.pusher.flush()
    assert recorder.of("stock")[-1] == {
        "type": "stock",
        "product_id": product_id,
        "remaining": 0,
        "stock": 8,
        "deal_id": recorder.of("deal.ended")[0]["deal_id"],
    }


async def test_deal_rules_at_start(ctx: CheckoutContext, seed: Seed) -> None:
    """51% is refused with ``discount_over_cap``; a second deal on one product is refused."""
    product_id = await seed.product(stock=10)
    with pytest.raises(DomainError) as caught:
        await deal(ctx, seed, product_id, discount_pct=51)
    assert caught.value.code == "discount_over_cap"
    await deal(ctx, seed, product_id)
    with pytest.raises(DomainError) as caught:
        await deal(ctx, seed, product_id, discount_pct=20)
    assert caught.value.code == "deal_already_active"


async def test_deal_needs_a_product_of_the_lineup(ctx: CheckoutContext, seed: Seed) -> None:
    """A product outside the special's line-up cannot get a deal in it."""
    other = Seed(seed.engine, seed.host_id, seed.special_id)
    product_id = await other.product(stock=10)
    async with ctx.engine.begin() as conn:
        from livemarket.checkout.tables import special_products

        await conn.execute(
            special_products.delete().where(special_products.c.product_id == product_id)
        )
    with pytest.raises(DomainError) as caught:
        await deal(ctx, seed, product_id)
    assert caught.value.code == "product_not_in_special"


async def test_database_follows_the_ledger(ctx: CheckoutContext, seed: Seed) -> None:
    """After a sweep the products table shows the ledger's stock (Redis writes back)."""
    product_id = await seed.product(stock=7)
    await order(ctx, "sync-key-1", (product_id, 3))
    await sweep_once(ctx)
    async with ctx.engine.connect() as conn:
        value = (
            await conn.execute(select(products.c.stock).where(products.c.id == product_id))
        ).scalar_one()
    assert value == 4


async def test_order_race_sells_exactly_the_deal(ctx: CheckoutContext, seed: Seed) -> None:
    """80 buyers order at once for a 30-unit deal: exactly 30 orders, 50 refusals, stock 0."""
    product_id = await seed.product(stock=30)
    await deal(ctx, seed, product_id, quantity=30, per_buyer_limit=1)

    async def attempt(i: int) -> str:
        try:
            await order(ctx, f"race-key-{i}", (product_id, 1), who=f"v:{i}")
        except DomainError as exc:
            return exc.code
        return "ok"

    results = await asyncio.gather(*(attempt(i) for i in range(80)))
    assert results.count("ok") == 30
    assert set(results) - {"ok"} <= {"deal_sold_out", "deal_ended", "sold_out"}
    assert await stock(ctx, product_id) == 0


async def test_multi_line_order_records_each_line(ctx: CheckoutContext, seed: Seed) -> None:
    """An order of two products records both lines, each at its own price."""
    first = await seed.product(stock=5, price=12_900)
    second = await seed.product(stock=5, price=8_000)
    await deal(ctx, seed, first, quantity=3)
    placed = await order(ctx, "two-lines-1", (second, 2), (first, 1))
    view = await get_order(ctx, placed.order["id"])
    assert [(ln["product_id"], ln["quantity"], ln["unit_price"]) for ln in view["lines"]] == [
        (first, 1, 9_030),
        (second, 2, 8_000),
    ]
    assert view["total"] == 9_030 + 16_000


async def test_failed_insert_takes_no_stock(ctx: CheckoutContext, seed: Seed) -> None:
    """An order naming a special that does not exist is refused and its units stay."""
    product_id = await seed.product(stock=4)
    with pytest.raises(DomainError) as caught:
        await place_order(
            ctx,
            buyer_key="v:1",
            idempotency_key="no-such-special",
            items=[OrderItem(product_id, 2)],
            buyer=BUYER,
            special_id=99_999,
        )
    assert caught.value.code == "special_not_found"
    assert await stock(ctx, product_id) == 4
