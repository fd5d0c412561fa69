"""Deals live inside their special, and orders are credited only to a special selling them:
a deal on tomorrow's special, a deal outliving its special, an order naming an ended one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from livemarket.bus.events import special_topic
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import active_deals, end_due_deals, start_deal
from livemarket.checkout.orders import OrderItem, place_order
from livemarket.checkout.tables import deals, orders, specials
from livemarket.errors import DomainError

from .checkout_seed import NOW, FakeClock, Seed, seed_special
from .test_orders import BUYER, stock


async def _set_special(seed: Seed, special_id: int | None = None, **values: Any) -> None:
    async with seed.engine.begin() as conn:
        await conn.execute(
            update(specials)
            .where(specials.c.id == (special_id or seed.special_id))
            .values(**values)
        )


async def _count(seed: Seed, table: Any) -> int:
    async with seed.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _start(ctx: CheckoutContext, seed: Seed, product_id: int, **kw: Any) -> Any:
    args: dict[str, Any] = {"discount_pct": 50, "duration_s": 4 * 3600, "quantity": 10}
    args.update(kw)
    return await start_deal(ctx, special_id=seed.special_id, product_id=product_id, **args)


async def _order(ctx: CheckoutContext, key: str, product_id: int, special_id: int | None) -> Any:
    return await place_order(
        ctx,
        buyer_key="v:1",
        idempotency_key=key,
        items=[OrderItem(product_id, 1)],
        buyer=BUYER,
        special_id=special_id,
    )


async def test_no_deal_on_tomorrows_special(ctx: CheckoutContext, seed: Seed) -> None:
    """A special scheduled for tomorrow takes no deal, and orders pay the list price."""
    product_id = await seed.product(stock=20)
    await _set_special(
        seed,
        status="scheduled",
        starts_at=NOW + timedelta(days=1),
        ends_at=NOW + timedelta(days=1, hours=1),
    )
    with pytest.raises(DomainError) as refused:
        await _start(ctx, seed, product_id)
    assert refused.value.code == "special_not_live"
    assert await _count(seed, deals) == 0
    placed = await _order(ctx, "tomorrow-1", product_id, None)
    assert placed.order["lines"][0]["unit_price"] == 12_900


async def test_deal_opens_with_the_go_live_grace(ctx: CheckoutContext, seed: Seed) -> None:
    """Ten minutes before a scheduled start (inside the 15-minute grace) a deal may start."""
    product_id = await seed.product(stock=20)
    await _set_special(
        seed,
        status="scheduled",
        starts_at=NOW + timedelta(minutes=10),
        ends_at=NOW + timedelta(hours=1),
    )
    started = await _start(ctx, seed, product_id, duration_s=600)
    assert started.ends_at == NOW + timedelta(minutes=10)


async def test_deal_never_outlives_its_special(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """A 4-hour deal on a special ending in 30 minutes ends with it; after, the list price."""
    product_id = await seed.product(stock=20)
    started = await _start(ctx, seed, product_id)
    assert started.ends_at == NOW + timedelta(minutes=30)  # the special's planned end
    clock.advance(minutes=31)
    placed = await _order(ctx, "after-end-1", product_id, None)
    assert placed.order["lines"][0]["unit_price"] == 12_900
    assert placed.order["lines"][0]["deal_id"] is None


async def test_special_ended_early_stops_its_deal_price(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """A special ended by hand: its still-open deal no longer prices an order."""
    product_id = await seed.product(stock=20)
    await _start(ctx, seed, product_id)
    await _set_special(seed, status="ended")
    clock.advance(seconds=1)  # the 1-second price cache (a special's status is not a write it sees)
    placed = await _order(ctx, "ended-early-1", product_id, None)
    assert placed.order["lines"][0]["unit_price"] == 12_900


async def test_a_deal_still_running_when_its_special_ends_ends_with_it(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """The sweeper ends it (``show_ended``), tells the viewers, and no page lists it still."""
    product_id = await seed.product(stock=20)
    deal = await _start(ctx, seed, product_id)
    other = await seed_special(seed.engine)
    running = await start_deal(
        ctx, special_id=other.special_id, product_id=await other.product(stock=5),
        discount_pct=20, duration_s=3600, quantity=3,
    )  # fmt: skip
    told: list[Any] = []
    ctx.bus.subscribe(special_topic(seed.special_id), lambda topic, event: told.append(event))
    await _set_special(seed, status="ended")
    clock.advance(seconds=1)
    ended = await end_due_deals(ctx)
    assert [(d.id, d.ended_reason) for d in ended] == [(deal.id, "show_ended")]
    assert await active_deals(ctx, seed.special_id) == []
    assert [d["deal_id"] for d in await active_deals(ctx, other.special_id)] == [running.id]
    await asyncio.sleep(0)
    assert [(e["type"], e["reason"]) for e in told] == [("deal.ended", "show_ended")]
    assert await end_due_deals(ctx) == []  # once


@pytest.mark.parametrize("status", ["ended", "cancelled"])
async def test_no_deal_on_a_closed_special_or_at_its_last_seconds(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock, status: str
) -> None:
    """Closed specials refuse deals; so does a live one with under ten seconds left."""
    product_id = await seed.product(stock=20)
    clock.now = NOW + timedelta(minutes=30) - timedelta(seconds=5)
    with pytest.raises(DomainError) as refused:
        await _start(ctx, seed, product_id)
    assert refused.value.code == "special_ending"
    await _set_special(seed, status=status)
    with pytest.raises(DomainError) as refused:
        await _start(ctx, seed, product_id)
    assert refused.value.code == "special_closed"
    assert await _count(seed, deals) == 0


async def test_order_cannot_be_credited_to_an_ended_special(
    ctx: CheckoutContext, seed: Seed, clock: FakeClock
) -> None:
    """An order naming an ended special (or one without the product) is refused, takes no
    stock and is counted nowhere; the live special that shows the product takes it."""
    product_id = await seed.product(stock=5)
    other = await seed_special(seed.engine, seed.host_id)
    await _set_special(
        seed,
        other.special_id,
        status="ended",
        starts_at=NOW - timedelta(days=2),
        ends_at=NOW - timedelta(days=2) + timedelta(hours=1),
    )
    with pytest.raises(DomainError) as refused:
        await _order(ctx, "credit-ended", product_id, other.special_id)
    assert refused.value.code == "special_not_selling"
    await _set_special(
        seed,
        other.special_id,
        status="live",
        starts_at=NOW - timedelta(minutes=5),
        ends_at=NOW + timedelta(hours=1),
    )
    clock.advance(seconds=1)  # the cached slot is a second old
    with pytest.raises(DomainError) as refused:
        await _order(ctx, "credit-not-shown", product_id, other.special_id)
    assert refused.value.code == "product_not_in_special"
    assert refused.value.kind.value == "invalid"
    assert await stock(ctx, product_id) == 5
    assert await _count(seed, orders) == 0
    placed = await _order(ctx, "credit-live", product_id, seed.special_id)
    assert placed.order["special_id"] == seed.special_id


async def test_a_crowd_of_orders_reads_a_special_once_per_window(tmp_path: Path) -> None:
    """Hundreds of orders arriving when the window runs out wait for one read of the
    special, not one each (that queued a flash sale behind the database)."""
    from datetime import UTC, datetime

    from sqlalchemy import event

    from livemarket.checkout.attribution import SaleWindows
    from livemarket.storage.engine import create_engine
    from livemarket.storage.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'windows.sqlite3'}"
    await upgrade_async(url)
    engine = create_engine(url)
    try:
        seed = await seed_special(engine)
        reads = 0

        def count(*_args: object) -> None:
            nonlocal reads
            reads += 1

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        windows = SaleWindows()
        now = datetime.now(UTC)
        found = await asyncio.gather(
            *(windows.get(engine, seed.special_id, now) for _ in range(300))
        )
        assert {w.slot.status for w in found} == {"live"}
        assert reads == 2  # the slot and the line-up, once
    finally:
        await engine.dispose()
