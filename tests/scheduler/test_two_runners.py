"""Server instances on one PostgreSQL database fire the same jobs; state changes once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus.events import special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.scheduler.calendar import CalendarRules, PlannedDealDraft, SpecialDraft
from livemarket.scheduler.driver import APSchedulerDriver, ManualDriver
from livemarket.scheduler.models import PlannedDeal, Special
from livemarket.scheduler.runner import Runner
from livemarket.scheduler.service import CalendarService
from livemarket.storage.base import utcnow
from livemarket.storage.engine import create_engine, session_factory
from tests.scheduler.conftest import T0, FakeClock, Recorder, Seed
from tests.scheduler.test_runner import FakeDeals


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """This test needs a shared server database: PostgreSQL only."""
    return postgres_url


@pytest.fixture
async def second_instance(
    postgres_url: str,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A second engine (its own connection pool), as another server process would have."""
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def third_instance(
    postgres_url: str,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A third engine, for three instances racing."""
    engine = create_engine(postgres_url)
    yield session_factory(engine)
    await engine.dispose()


async def test_two_runners_fire_each_transition_once(
    sessions: async_sessionmaker[AsyncSession],
    second_instance: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    seed: Seed,
) -> None:
    """Both instances fire go-live, the deal and the end at once; each happens exactly once."""
    start = T0 + timedelta(hours=1)
    service = CalendarService(sessions, InProcessBus(), clock, CalendarRules())
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=0, discount_pct=10, duration_s=600, quantity=3
    )
    special = await service.create(
        SpecialDraft(
            title="Twice",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            host_id=seed.hosts[0],
            product_ids=(seed.products[0],),
            deals=(deal,),
        )
    )
    buses = [InProcessBus(), InProcessBus()]
    seen = [Recorder(), Recorder()]
    for bus, recorder in zip(buses, seen, strict=True):
        bus.subscribe(special_topic(special["id"]), recorder)
    deals = [FakeDeals(), FakeDeals()]
    drivers = [ManualDriver(), ManualDriver()]
    runners = [
        Runner(factory, bus, clock, driver, deal_starter=starter)
        for factory, bus, driver, starter in zip(
            (sessions, second_instance), buses, drivers, deals, strict=True
        )
    ]
    for runner in runners:
        await runner.start()
    try:
        for driver in drivers:  # both instances really hold the same jobs
            assert f"special:{special['id']}:go_live" in driver.jobs()
        for moment in (start, start + timedelta(minutes=30)):
            clock.now = moment
            ran = await asyncio.gather(*(driver.run_due(moment) for driver in drivers))
            assert all(count > 0 for count in ran)
        statuses = [e["status"] for r in seen for e in r.of_type("special.status")]
        assert sorted(statuses) == ["ended", "live"]
        assert len(deals[0].started) + len(deals[1].started) == 1
        async with sessions() as db:
            row = await db.scalar(select(Special).where(Special.id == special["id"]))
            assert row is not None
            assert row.status == "ended"
            assert row.version == special["version"] + 2  # one bump per transition
            planned = await db.scalar(select(PlannedDeal))
            assert planned is not None and planned.started_at == start
    finally:
        for runner in runners:
            await runner.stop()


SPECIALS_AT_ONCE = 8


async def test_planned_deals_at_the_start_start_once_each_on_the_real_scheduler(
    sessions: async_sessionmaker[AsyncSession],
    second_instance: async_sessionmaker[AsyncSession],
    third_instance: async_sessionmaker[AsyncSession],
    seed: Seed,
) -> None:
    """Many specials start at one instant on three instances (APScheduler, real clock).

    Each special's go-live and its deal at offset 0 are due at the same moment on
    every instance; whatever order the jobs run in, every special goes live once
    and every planned deal starts exactly once, at once.
    """
    start = utcnow() + timedelta(seconds=2)
    async with sessions() as db:
        specials = [
            Special(
                title=f"At once {i}",
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                host_id=seed.hosts[0],
                channel=f"studio-{i}",
            )
            for i in range(SPECIALS_AT_ONCE)
        ]
        db.add_all(specials)
        await db.flush()
        db.add_all(
            PlannedDeal(
                special_id=special.id,
                product_id=seed.products[0],
                offset_s=0,
                discount_pct=10,
                duration_s=600,
                quantity=3,
            )
            for special in specials
        )
        await db.commit()
    loop_time = asyncio.get_running_loop().time
    deals = [FakeDeals(), FakeDeals(), FakeDeals()]
    runners = [
        Runner(factory, InProcessBus(), utcnow, APSchedulerDriver(), deal_starter=starter)
        for factory, starter in zip((sessions, second_instance, third_instance), deals, strict=True)
    ]
    for runner in runners:
        await runner.start()
    try:
        ends = {f"special:{special.id}:end" for special in specials}
        deadline = loop_time() + 20  # bounded: due in 2 s (a skipped deal never starts)
        while loop_time() < deadline and (
            any(runner.driver.jobs().keys() - ends for runner in runners)
            or sum(len(starter.started) for starter in deals) < SPECIALS_AT_ONCE
        ):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a second start, were there one, would have begun
        for runner in runners:
            await runner.idle()
        started = sorted(d.special_id for starter in deals for d in starter.started)
        assert started == sorted(special.id for special in specials)  # each exactly once
        async with sessions() as db:
            rows = list(await db.scalars(select(PlannedDeal)))
            assert all(row.started_at is not None for row in rows)
            statuses = await db.scalars(select(Special.status))
            assert set(statuses) == {"live"}
    finally:
        for runner in runners:
            await runner.stop()
