"""Pinning a product over a special's video: a line-up product only, stored, then told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus.events import special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.errors import DomainError, NotFound
from livemarket.scheduler.models import Special, SpecialProduct
from livemarket.scheduler.pins import pin_product
from tests.scheduler.conftest import T0, Recorder, Seed


async def _special(
    sessions: async_sessionmaker[AsyncSession], seed: Seed, lineup: list[int]
) -> int:
    async with sessions.begin() as db:
        special = Special(
            title="딸기 특집",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            status="live",
            host_id=seed.hosts[0],
        )
        db.add(special)
        await db.flush()
        db.add_all(
            SpecialProduct(special_id=special.id, product_id=p, position=i)
            for i, p in enumerate(lineup)
        )
        return special.id


async def _pinned(sessions: async_sessionmaker[AsyncSession], special_id: int) -> int | None:
    async with sessions() as db:
        special = await db.get(Special, special_id)
        assert special is not None
        return special.pinned_product_id


async def test_pinning_a_line_up_product_stores_it_and_tells_the_room(
    sessions: async_sessionmaker[AsyncSession], seed: Seed, bus: InProcessBus
) -> None:
    """The pin is stored on the special and ``product.pinned`` carries the product; unpinning
    (``None``) clears both."""
    special_id = await _special(sessions, seed, seed.products[:2])
    heard = Recorder()
    bus.subscribe(special_topic(special_id), heard)

    await pin_product(sessions, bus, special_id, seed.products[1])
    assert await _pinned(sessions, special_id) == seed.products[1]
    [event] = heard.of_type("product.pinned")
    assert event["product_id"] == seed.products[1]
    assert event["product"]["id"] == seed.products[1]
    assert event["product"]["price"] == 10001

    await pin_product(sessions, bus, special_id, None)
    assert await _pinned(sessions, special_id) is None
    assert heard.of_type("product.pinned")[-1]["product"] is None


async def test_a_product_outside_the_line_up_is_refused_and_nothing_changes(
    sessions: async_sessionmaker[AsyncSession], seed: Seed, bus: InProcessBus
) -> None:
    """Another product, or one that does not exist, is refused with a code; no event."""
    special_id = await _special(sessions, seed, seed.products[:2])
    heard = Recorder()
    bus.subscribe(special_topic(special_id), heard)
    with pytest.raises(DomainError) as outside:
        await pin_product(sessions, bus, special_id, seed.products[3])
    assert outside.value.code == "product_not_in_special"
    with pytest.raises(NotFound) as missing:
        await pin_product(sessions, bus, special_id, 999_999)
    assert missing.value.code == "product_not_found"
    assert await _pinned(sessions, special_id) is None
    assert heard.events == []


async def test_a_special_without_a_line_up_may_pin_any_product(
    sessions: async_sessionmaker[AsyncSession], seed: Seed, bus: InProcessBus
) -> None:
    """No line-up yet: any catalog product may be pinned."""
    special_id = await _special(sessions, seed, [])
    await pin_product(sessions, bus, special_id, seed.products[3])
    assert await _pinned(sessions, special_id) == seed.products[3]
