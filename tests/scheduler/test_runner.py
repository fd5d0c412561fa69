"""The runner with a controllable clock: go-live, end, deals, reminders, moves, catch-up."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus.events import special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.errors import Conflict
from livemarket.scheduler import transitions
from livemarket.scheduler.calendar import PlannedDealDraft, SpecialDraft
from livemarket.scheduler.driver import APSchedulerDriver, ManualDriver
from livemarket.scheduler.events import viewer_topic
from livemarket.scheduler.jobs import Action, Job, retry_delay
from livemarket.scheduler.models import PlannedDeal, Special
from livemarket.scheduler.runner import DealStart, Runner
from livemarket.scheduler.service import CalendarService
from livemarket.storage.base import utcnow
from tests.scheduler.conftest import T0, FakeClock, Recorder, Seed


class FakeDeals:
    """Stands in for the checkout domain: records each start and hands out deal ids."""

    def __init__(self) -> None:
        self.started: list[DealStart] = []

    async def __call__(self, start: DealStart) -> int | None:
        self.started.append(start)
        return None  # no flash_deals row exists in these tests; the claim still records it


def draft(seed: Seed, start: datetime, minutes: int = 60, **kw: Any) -> SpecialDraft:
    values: dict[str, Any] = {
        "title": "Jeju tangerines",
        "starts_at": start,
        "ends_at": start + timedelta(minutes=minutes),
        "host_id": seed.hosts[0],
        "channel": "studio-1",
        "product_ids": (seed.products[0], seed.products[1]),
    }
    values.update(kw)
    return SpecialDraft(**values)


async def status_of(sessions: async_sessionmaker[AsyncSession], special_id: int) -> str:
    async with sessions() as db:
        return str(await db.scalar(select(Special.status).where(Special.id == special_id)))


def make_runner(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    deals: FakeDeals | None = None,
) -> tuple[Runner, ManualDriver]:
    driver = ManualDriver()
    return Runner(sessions, bus, clock, driver, deal_starter=deals), driver


async def test_goes_live_at_start_and_ends_at_end(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """At the start the special goes live and viewers get special.status; at the end it ends."""
    start = T0 + timedelta(hours=1)
    special = await service.create(draft(seed, start))
    events = Recorder()
    bus.subscribe(special_topic(special["id"]), events)
    runner, driver = make_runner(sessions, bus, clock)
    await runner.start()
    try:
        assert driver.jobs()[f"special:{special['id']}:go_live"] == start
        clock.now = start - timedelta(seconds=1)
        await driver.run_due(clock())
        assert await status_of(sessions, special["id"]) == "scheduled"
        clock.now = start
        await driver.run_due(clock())
        assert await status_of(sessions, special["id"]) == "live"
        assert [e["status"] for e in events.of_type("special.status")] == ["live"]
        clock.now = start + timedelta(minutes=60)
        await driver.run_due(clock())
        assert await status_of(sessions, special["id"]) == "ended"
        assert [e["status"] for e in events.of_type("special.status")] == ["live", "ended"]
        assert driver.jobs() == {}
    finally:
        await runner.stop()


async def test_planned_deal_starts_at_its_offset(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """A planned deal starts once, at start + offset, ending at its planned window's end."""
    start = T0 + timedelta(hours=1)
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=600, discount_pct=30, duration_s=300, quantity=20
    )
    special = await service.create(draft(seed, start, deals=(deal,)))
    deals = FakeDeals()
    runner, driver = make_runner(sessions, bus, clock, deals)
    await runner.start()
    try:
        clock.now = start
        await driver.run_due(clock())
        clock.now = start + timedelta(seconds=599)
        await driver.run_due(clock())
        assert deals.started == []
        clock.now = start + timedelta(seconds=600)
        await driver.run_due(clock())
        (started,) = deals.started
        assert started.special_id == special["id"]
        assert started.product_id == seed.products[0]
        assert started.discount_pct == 30
        assert started.quantity == 20
        assert started.starts_at == start + timedelta(seconds=600)
        assert started.ends_at == start + timedelta(seconds=900)
        await runner.sync(special["id"])  # a re-plan does not start it again
        await driver.run_due(clock())
        assert len(deals.started) == 1
        async with sessions() as db:
            planned = await db.scalar(select(PlannedDeal))
            assert planned is not None and planned.started_at is not None
    finally:
        await runner.stop()


class ClashingDeals(FakeDeals):
    """The checkout domain refusing: the product already has a deal running."""

    async def __call__(self, start: DealStart) -> int | None:
        self.started.append(start)
        raise Conflict("deal_already_active", "this product already has a deal running")


async def test_a_refused_planned_deal_is_a_warning_and_the_studio_is_told(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A clash is foreseeable: one WARNING without a traceback, and a pushed event saying why."""
    start = T0 + timedelta(hours=1)
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=0, discount_pct=30, duration_s=600, quantity=20
    )
    special = await service.create(draft(seed, start, deals=(deal,)))
    events = Recorder()
    bus.subscribe(special_topic(special["id"]), events)
    deals = ClashingDeals()
    runner, driver = make_runner(sessions, bus, clock, deals)
    await runner.start()
    try:
        clock.now = start
        with caplog.at_level(logging.INFO, logger="livemarket.scheduler"):
            await driver.run_due(clock())
            for _ in range(50):
                if events.of_type("planned_deal.refused"):
                    break
                await asyncio.sleep(0.01)
        assert len(deals.started) == 1
        (refused,) = events.of_type("planned_deal.refused")
        assert refused["code"] == "deal_already_active"
        assert refused["product_id"] == seed.products[0]
        assert "already has a deal running" in refused["message"]
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.levelname for r in warned] == ["WARNING"]
        assert warned[0].exc_info is None
        async with sessions() as db:
            planned = await db.scalar(select(PlannedDeal))
            assert planned is not None and planned.started_at is None  # free for a retry
    finally:
        await runner.stop()


async def test_planned_deal_claimed_by_a_crashed_instance_is_started_later(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """A claim left without a deal (its instance died mid-start) is taken over after the lease."""
    start = T0 + timedelta(hours=1)
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=0, discount_pct=30, duration_s=1800, quantity=20
    )
    special = await service.create(draft(seed, start, deals=(deal,)))
    async with sessions() as db:
        planned_id = await db.scalar(select(PlannedDeal.id))
        assert planned_id is not None
        await transitions.go_live(db, special["id"], start)
        claimed = await transitions.claim_planned_deal(db, planned_id, start)
    assert claimed is not None  # the crashed instance claimed it and never recorded a deal
    deals = FakeDeals()
    runner, driver = make_runner(sessions, bus, clock, deals)
    clock.now = start + timedelta(seconds=30)
    await runner.start()
    try:
        await driver.run_due(clock())
        assert deals.started == []  # a fresh claim may still be starting elsewhere
        clock.now = start + transitions.CLAIM_LEASE + timedelta(seconds=1)
        await runner.sync(special["id"])
        await driver.run_due(clock())
        assert [d.special_id for d in deals.started] == [special["id"]]
    finally:
        await runner.stop()


class FlakyDeals(FakeDeals):
    """The checkout side failing its first ``failures`` starts (its Redis away, say)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def __call__(self, start: DealStart) -> int | None:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("checkout is away")
        return await super().__call__(start)


async def test_a_deal_job_run_before_go_live_takes_the_special_live_first(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """A deal at offset 0 fired ahead of its go-live (timer order) starts; go-live is a no-op."""
    start = T0 + timedelta(hours=1)
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=0, discount_pct=30, duration_s=600, quantity=20
    )
    special = await service.create(draft(seed, start, deals=(deal,)))
    seen = Recorder()
    bus.subscribe(special_topic(special["id"]), seen)
    deals = FakeDeals()
    runner, driver = make_runner(sessions, bus, clock, deals)
    await runner.start()
    try:
        async with sessions() as db:
            planned_id = await db.scalar(select(PlannedDeal.id))
        prefix = f"special:{special['id']}:"
        deal_job = Job(f"{prefix}deal:{planned_id}", start, Action.DEAL, special["id"], planned_id)
        go_live = Job(f"{prefix}go_live", start, Action.GO_LIVE, special["id"])
        # APScheduler orders jobs due at one instant by id: "…:deal:N" before "…:go_live".
        assert {deal_job.job_id, go_live.job_id} <= driver.jobs().keys()
        assert deal_job.job_id < go_live.job_id
        clock.now = start
        assert await runner.fire(deal_job)
        assert await status_of(sessions, special["id"]) == "live"
        assert [d.special_id for d in deals.started] == [special["id"]]
        assert not await runner.fire(go_live)
        assert [e["status"] for e in seen.of_type("special.status")] == ["live"]
    finally:
        await runner.stop()


async def test_a_job_that_fails_is_retried_with_backoff_until_it_runs(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """A deal start that raises twice is released and tried again later; it starts once."""
    start = T0 + timedelta(hours=1)
    deal = PlannedDealDraft(
        product_id=seed.products[0], offset_s=0, discount_pct=30, duration_s=600, quantity=20
    )
    special = await service.create(draft(seed, start, deals=(deal,)))
    deals = FlakyDeals(failures=2)
    runner, driver = make_runner(sessions, bus, clock, deals)
    await runner.start()
    try:
        clock.now = start
        await driver.run_due(clock())
        assert deals.started == [] and await status_of(sessions, special["id"]) == "live"
        (retry,) = [j for j in driver.jobs() if j.endswith(":retry")]
        assert driver.jobs()[retry] == start + timedelta(seconds=retry_delay(1))
        clock.now = driver.jobs()[retry]
        await driver.run_due(clock())
        assert driver.jobs()[retry] == clock.now + timedelta(seconds=retry_delay(2))
        clock.now = driver.jobs()[retry]
        await driver.run_due(clock())
        assert [d.special_id for d in deals.started] == [special["id"]]
        assert retry not in driver.jobs()
        async with sessions() as db:
            planned = await db.scalar(select(PlannedDeal))
            assert planned is not None and planned.started_at == clock.now
    finally:
        await runner.stop()


async def test_reminder_reaches_viewers_who_asked_ten_minutes_before(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """Ten minutes before start, each viewer who asked gets one reminder; others get none."""
    start = T0 + timedelta(hours=1)
    special = await service.create(draft(seed, start))
    await service.remind(special["id"], "v:alice")
    await service.remind(special["id"], "v:bob")
    await service.remind(special["id"], "v:bob")  # asking twice is one request
    await service.remind(special["id"], "v:carol")
    await service.remind(special["id"], "v:carol", on=False)
    alice, bob, carol = Recorder(), Recorder(), Recorder()
    bus.subscribe(viewer_topic("v:alice"), alice)
    bus.subscribe(viewer_topic("v:bob"), bob)
    bus.subscribe(viewer_topic("v:carol"), carol)
    runner, driver = make_runner(sessions, bus, clock)
    await runner.start()
    try:
        clock.now = start - timedelta(minutes=10, seconds=1)
        await driver.run_due(clock())
        assert alice.events == []
        clock.now = start - timedelta(minutes=10)
        await driver.run_due(clock())
        (reminder,) = alice.of_type("reminder")
        assert reminder["special_id"] == special["id"]
        assert reminder["url"] == f"/specials/{special['id']}"
        assert datetime.fromisoformat(reminder["starts_at"]) == start
        assert len(bob.of_type("reminder")) == 1
        assert carol.events == []
        await runner.sync(special["id"])
        await driver.run_due(clock())
        assert len(alice.of_type("reminder")) == 1
    finally:
        await runner.stop()


async def test_move_retimes_and_cancel_removes_jobs(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """Moving a special re-times its jobs; the old time does nothing; cancelling drops them."""
    start = T0 + timedelta(hours=1)
    special = await service.create(draft(seed, start))
    other = await service.create(draft(seed, start + timedelta(hours=3)))
    runner, driver = make_runner(sessions, bus, clock)
    await runner.start()
    try:
        later = start + timedelta(hours=1)
        await service.update(
            special["id"], {"starts_at": later, "ends_at": later + timedelta(minutes=60)}
        )
        await runner.idle()
        jobs = driver.jobs()
        assert jobs[f"special:{special['id']}:go_live"] == later
        assert jobs[f"special:{special['id']}:end"] == later + timedelta(minutes=60)
        assert jobs[f"special:{special['id']}:reminder"] == later - timedelta(minutes=10)
        clock.now = start
        await driver.run_due(clock())
        assert await status_of(sessions, special["id"]) == "scheduled"
        clock.now = later
        await driver.run_due(clock())
        assert await status_of(sessions, special["id"]) == "live"

        await service.cancel(other["id"])
        await runner.idle()
        assert not [j for j in driver.jobs() if j.startswith(f"special:{other['id']}:")]
    finally:
        await runner.stop()


async def test_catch_up_after_downtime(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    service: CalendarService,
    seed: Seed,
) -> None:
    """After a restart, a special inside its slot is live, one past it ended, deals caught up."""
    start = T0 + timedelta(hours=1)
    missed = await service.create(
        draft(seed, start, minutes=30, channel="studio-2", host_id=seed.hosts[1])
    )
    deals = (
        PlannedDealDraft(
            product_id=seed.products[0], offset_s=60, discount_pct=20, duration_s=60, quantity=5
        ),  # window over by the restart
        PlannedDealDraft(
            product_id=seed.products[1], offset_s=300, discount_pct=20, duration_s=1200, quantity=5
        ),  # window still open
    )
    running = await service.create(
        draft(seed, start + timedelta(minutes=40), minutes=60, deals=deals)
    )
    await service.remind(running["id"], "v:late")
    late = Recorder()
    bus.subscribe(viewer_topic("v:late"), late)
    # The server is down from T0 until 15 minutes into the second special.
    clock.now = start + timedelta(minutes=55)
    fake_deals = FakeDeals()
    runner, driver = make_runner(sessions, bus, clock, fake_deals)
    await runner.start()
    try:
        assert await status_of(sessions, missed["id"]) == "ended"
        assert await status_of(sessions, running["id"]) == "live"
        assert [d.product_id for d in fake_deals.started] == [seed.products[1]]
        assert late.events == []  # a reminder after the start would be noise
        assert set(driver.jobs()) == {f"special:{running['id']}:end"}
    finally:
        await runner.stop()


async def test_real_apscheduler_fires_in_the_loop(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    seed: Seed,
) -> None:
    """With APScheduler and the real clock, a job due in a moment runs in the app's loop."""
    now = utcnow()
    async with sessions() as db:
        special = Special(
            title="Soon",
            starts_at=now + timedelta(milliseconds=300),
            ends_at=now + timedelta(hours=1),
            host_id=seed.hosts[0],
        )
        db.add(special)
        await db.commit()
    went_live = asyncio.Event()
    bus.subscribe(
        special_topic(special.id),
        lambda _t, e: went_live.set() if e.get("status") == "live" else None,
    )
    runner = Runner(sessions, bus, utcnow, APSchedulerDriver())
    await runner.start()
    try:
        assert f"special:{special.id}:go_live" in runner.driver.jobs()
        await asyncio.wait_for(went_live.wait(), timeout=10)
        await runner.idle()
        assert await status_of(sessions, special.id) == "live"
    finally:
        await runner.stop()


async def test_periodic_resync_catches_changes_made_behind_the_bus(
    sessions: async_sessionmaker[AsyncSession],
    bus: InProcessBus,
    clock: FakeClock,
    seed: Seed,
) -> None:
    """A special written straight into the database (no event) is planned by the next resync."""
    runner = Runner(sessions, bus, clock, ManualDriver(), resync_every=0.05)
    await runner.start()
    try:
        start = T0 + timedelta(hours=2)
        async with sessions() as db:
            special = Special(
                title="Seeded",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                host_id=seed.hosts[0],
            )
            db.add(special)
            await db.commit()
        for _ in range(100):  # bounded: at most ~5 s
            if f"special:{special.id}:go_live" in runner.driver.jobs():
                break
            await asyncio.sleep(0.05)
        assert runner.driver.jobs()[f"special:{special.id}:go_live"] == start
    finally:
        await runner.stop()
