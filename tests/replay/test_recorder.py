"""The pin recorder: pins of live specials are kept with their times, across outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus import catalogue
from livemarket.bus.events import CALENDAR_TOPIC, special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.replay.models import ShowMoment
from livemarket.replay.recorder import MomentRecorder
from livemarket.scheduler.models import Special
from livemarket.storage.engine import create_engine
from tests.checkout.checkout_seed import NOW, FakeClock, seed_special


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    yield made
    await made.dispose()


async def _moments(engine: AsyncEngine, special_id: int) -> list[tuple[str, int | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(ShowMoment.kind, ShowMoment.product_id)
            .where(ShowMoment.special_id == special_id)
            .order_by(ShowMoment.at, ShowMoment.id)
        )
        return [(kind, product) for kind, product in rows]


async def _settle(recorder: MomentRecorder) -> None:
    for _ in range(50):  # bounded: the writer and status checks run on the loop
        await asyncio.sleep(0.01)
        if recorder.idle:
            return


def _pinned(special_id: int, product_id: int | None) -> catalogue.ProductPinned:
    view = None
    if product_id is not None:
        view = catalogue.ProductView(id=product_id, name="유자청", price=12_900, category="food")
    return catalogue.ProductPinned(
        type=catalogue.PRODUCT_PINNED, special_id=special_id, product_id=product_id, product=view
    )


async def test_pins_of_a_live_special_are_kept_with_their_time(engine: AsyncEngine) -> None:
    """Pin, unpin, pin again: three rows at the clock's times; other events are ignored."""
    seed = await seed_special(engine)
    product = await seed.product(stock=5)
    bus, clock = InProcessBus(), FakeClock(NOW)
    recorder = MomentRecorder(engine, bus, clock)
    await recorder.start()
    try:
        assert recorder.following == {seed.special_id}
        topic = special_topic(seed.special_id)
        await bus.publish(topic, _pinned(seed.special_id, product))
        clock.advance(seconds=30)
        chat = catalogue.Chat(
            type=catalogue.CHAT,
            id=1,
            special_id=seed.special_id,
            nickname="viewer",
            role="viewer",
            text="hi",
            pinned=False,
            created_at=NOW.isoformat(),
        )
        await bus.publish(topic, chat)
        await bus.publish(topic, _pinned(seed.special_id, None))
        await bus.publish(topic, _pinned(seed.special_id, product))
        await _settle(recorder)
    finally:
        await recorder.close()
    assert await _moments(engine, seed.special_id) == [
        ("product.pinned", product),
        ("product.unpinned", None),
        ("product.pinned", product),
    ]
    async with engine.connect() as conn:
        times = list(await conn.scalars(select(ShowMoment.at).order_by(ShowMoment.id)))
    assert times == [NOW, NOW + timedelta(seconds=30), NOW + timedelta(seconds=30)]


async def test_going_live_and_ending_start_and_stop_following(engine: AsyncEngine) -> None:
    """A special that goes live is followed (its current pin noted); once ended, no more rows."""
    seed = await seed_special(engine)
    product = await seed.product(stock=5)
    async with engine.begin() as conn:
        await conn.execute(
            update(Special)
            .where(Special.id == seed.special_id)
            .values(status="scheduled", pinned_product_id=product)
        )
    bus = InProcessBus()
    recorder = MomentRecorder(engine, bus, FakeClock(NOW))
    await recorder.start()
    try:
        assert recorder.following == set()
        async with engine.begin() as conn:
            await conn.execute(
                update(Special).where(Special.id == seed.special_id).values(status="live")
            )
        changed = catalogue.CalendarChanged(
            type=catalogue.CALENDAR_CHANGED, special_id=seed.special_id, action="status"
        )
        await bus.publish(CALENDAR_TOPIC, changed)
        await _settle(recorder)
        assert recorder.following == {seed.special_id}
        assert await _moments(engine, seed.special_id) == [("product.pinned", product)]
        async with engine.begin() as conn:
            await conn.execute(
                update(Special).where(Special.id == seed.special_id).values(status="ended")
            )
        await bus.publish(CALENDAR_TOPIC, changed)
        await _settle(recorder)
        assert recorder.following == set()
        await bus.publish(special_topic(seed.special_id), _pinned(seed.special_id, None))
        await _settle(recorder)
    finally:
        await recorder.close()
    assert await _moments(engine, seed.special_id) == [("product.pinned", product)]


async def test_pins_wait_while_the_database_is_away(engine: AsyncEngine, database_url: str) -> None:
    """A write that fails keeps the pins pending; the next flush writes them all, in order."""
    seed = await seed_special(engine)
    product = await seed.product(stock=5)
    bus = InProcessBus()
    away = create_engine("sqlite+aiosqlite:////nonexistent-dir/replay.sqlite3")
    recorder = MomentRecorder(away, bus, FakeClock(NOW))
    recorder._follow(seed.special_id, None)
    await bus.publish(special_topic(seed.special_id), _pinned(seed.special_id, product))
    await bus.publish(special_topic(seed.special_id), _pinned(seed.special_id, None))
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
        await recorder.flush()
    assert len(recorder.pending) == 2
    await away.dispose()
    recorder.engine = engine  # the database answers again
    await recorder.flush()
    assert recorder.pending == []
    assert await _moments(engine, seed.special_id) == [
        ("product.pinned", product),
        ("product.unpinned", None),
    ]


async def test_the_backlog_is_bounded(engine: AsyncEngine) -> None:
    """Past the limit the oldest pins are dropped and counted, never memory without end."""
    recorder = MomentRecorder(engine, InProcessBus(), FakeClock(NOW), limit=3)
    recorder._follow(1, None)
    for product in range(5):
        recorder._on_event("special:1", _pinned(1, product))
    assert [m.product_id for m in recorder.pending] == [2, 3, 4]
    assert recorder.health.overflow == 2
    for subscription in recorder._followed.values():
        subscription.close()
