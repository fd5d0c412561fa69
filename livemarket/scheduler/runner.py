"""The runner: turns the calendar in the database into timed jobs, and runs them.

The database is the truth; jobs are derived from it. At start the runner plans
every scheduled or live special and catches up what fell due while the server
was down (a job whose time has passed runs at once: go live if still inside the
slot, end if past it). On every ``calendar.changed`` event (from this instance
or, over Redis, any other) it re-plans that one special: a move re-times its
jobs, a cancel or delete leaves none.

Every job's effect is a conditional update (``transitions.py``), so when two
instances fire the same job, one changes the row and publishes; the other finds
nothing to do. The same makes order safe: a job fires its prerequisites first
(:data:`~livemarket.scheduler.jobs.PREREQUISITES`, a deal's go-live), whatever
order the timer ran the jobs in. A job that raises (the database away) is tried
again with backoff under its own id, until it runs or a re-plan replaces it. The
clock is injected: tests drive time with :class:`ManualDriver`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus import catalogue
from livemarket.bus.events import CALENDAR_TOPIC, Event, EventBus, Subscription, special_topic
from livemarket.errors import DomainError
from livemarket.scheduler import transitions
from livemarket.scheduler.driver import JobDriver
from livemarket.scheduler.events import (
    calendar_changed,
    planned_deal_refused,
    reminder_event,
    status_event,
    viewer_topic,
)
from livemarket.scheduler.jobs import (
    PREREQUISITES,
    REMINDER_LEAD,
    Action,
    Job,
    PlannedDealTiming,
    SpecialTiming,
    job_prefix,
    plan_jobs,
    retry_delay,
)
from livemarket.scheduler.lifecycle import Status
from livemarket.scheduler.models import PlannedDeal, Special
from livemarket.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DealStart:
    """A planned deal due to start now; it must end at ``ends_at`` (the planned window's end)."""

    planned_deal_id: int
    special_id: int
    product_id: int
    discount_pct: int
    quantity: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime


class DealStarter(Protocol):
    """Starts a flash deal (the checkout domain's job); returns the new deal's id.

    Called once per planned deal across all instances (the runner claims it first).
    Raising releases the claim and the job is tried again; a claim whose
    instance died before recording the deal is taken over after
    :data:`~livemarket.scheduler.transitions.CLAIM_LEASE`. ``None`` means "too late
    to start": the window is all but over, so no later claim can find it open.
    """

    async def __call__(self, start: DealStart) -> int | None: ...


class Runner:
    """Owns the timed jobs of the calendar; start it in the app's loop, stop it on shutdown."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        clock: Clock,
        driver: JobDriver,
        *,
        deal_starter: DealStarter | None = None,
        reminder_lead: timedelta = REMINDER_LEAD,
        watch_path: Callable[[int], str] = lambda special_id: f"/specials/{special_id}",
        resync_every: float | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._driver = driver
        self._deal_starter = deal_starter
        self._reminder_lead = reminder_lead
        self._watch_path = watch_path
        self._resync_every = resync_every
        self._tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._subscription: Subscription | None = None
        self._resync_task: asyncio.Task[None] | None = None

    @property
    def driver(self) -> JobDriver:
        return self._driver

    async def start(self) -> None:
        """Listen for calendar changes, start the driver, then plan and catch up everything."""
        self._subscription = self._bus.subscribe(CALENDAR_TOPIC, self._on_calendar)
        self._driver.start()
        await self.sync_all()
        if self._resync_every:
            self._resync_task = asyncio.get_running_loop().create_task(
                self._resync_loop(self._resync_every), name="calendar-resync"
            )

    async def stop(self) -> None:
        """Stop listening, drop the jobs, and cancel (and await) whatever is still running."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        await self._driver.stop()
        tasks = list(self._tasks)
        if self._resync_task is not None:
            tasks.append(self._resync_task)
            self._resync_task = None
        await cancel_and_wait(tasks)

    async def idle(self) -> None:
        """Wait until every re-plan and job started so far has finished (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_calendar(self, _topic: str, event: Event) -> None:
        # Status changes do not move any job (and every job re-checks the row),
        # so only edits, cancels and deletes trigger a re-plan.
        if event.get("type") != catalogue.CALENDAR_CHANGED or event.get("action") == "status":
            return
        special_id = event.get("special_id")
        if isinstance(special_id, int):
            self._spawn(self._guarded(self.sync(special_id)))

    async def _resync_loop(self, every: float) -> None:
        # A safety net, not the mechanism: it catches changes made behind the bus's
        # back (a seeding script, a lost pub/sub message) within ``every`` seconds.
        while True:
            await asyncio.sleep(every)
            await self._guarded(self.sync_all())

    async def _guarded(self, coro: Any) -> None:
        try:
            await coro
        except Exception:  # a failed re-plan must not kill the listener; the next change retries
            log.exception("calendar runner task failed")

    async def sync_all(self) -> None:
        """Plan every special that still has something ahead of it (catching up as needed)."""
        async with self._sessions() as db:
            ids = list(
                await db.scalars(
                    select(Special.id)
                    .where(Special.status.in_([Status.SCHEDULED.value, Status.LIVE.value]))
                    .order_by(Special.starts_at, Special.id)
                )
            )
        for special_id in ids:
            await self.sync(special_id)

    async def _timing(self, special_id: int) -> SpecialTiming | None:
        now = self._clock()
        async with self._sessions() as db:
            special = await db.get(Special, special_id)
            if special is None:
                return None
            deals = await db.scalars(
                select(PlannedDeal)
                .where(PlannedDeal.special_id == special_id)
                .order_by(PlannedDeal.offset_s, PlannedDeal.id)
            )
            return SpecialTiming(
                id=special.id,
                status=special.status,
                starts_at=special.starts_at,
                ends_at=special.ends_at,
                reminder_sent=special.reminder_sent_at is not None,
                deals=[
                    PlannedDealTiming(
                        p.id,
                        p.offset_s,
                        p.duration_s,
                        transitions.planned_deal_settled(p.started_at, p.deal_id, now),
                    )
                    for p in deals
                ],
            )

    async def sync(self, special_id: int) -> None:
        """Replace one special's jobs with what the database now says; run any already due."""
        lock = self._locks.setdefault(special_id, asyncio.Lock())
        async with lock:
            timing = await self._timing(special_id)
            self._driver.remove_prefix(job_prefix(special_id))
            if timing is None:
                self._locks.pop(special_id, None)
                return
            now = self._clock()
            for job in plan_jobs(timing, self._reminder_lead):
                if job.run_at <= now:
                    await self._run(job)  # catch-up: its time passed while we were not looking
                else:
                    self._driver.put(job.job_id, job.run_at, self._job_func(job))

    def _job_func(self, job: Job, attempt: int = 0) -> Callable[[], Any]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await self._run(job, attempt)
            finally:
                if task is not None:
                    self._tasks.discard(task)

        return run

    async def _run(self, job: Job, attempt: int = 0) -> None:
        """Fire ``job``; if it raises, log it and plan a retry with backoff (never raise)."""
        try:
            await self.fire(job)
        except Exception:  # not raised into APScheduler's executor, nor into a re-plan
            delay = retry_delay(attempt + 1)
            log.exception("calendar job %s failed; retrying in %.1f s", job.job_id, delay)
            retry_at = self._clock() + timedelta(seconds=delay)
            # Its own id: a re-plan meanwhile (remove_prefix) drops the retry, and the
            # retry never replaces the planned job, which a move may have re-timed.
            self._driver.put(f"{job.job_id}:retry", retry_at, self._job_func(job, attempt + 1))

    async def fire(self, job: Job) -> bool:
        """Do what ``job`` says if the database still agrees; True when this call changed state.

        Its prerequisites are fired first (each a no-op when already done), so a job
        never finds its precondition missing just because the timer ran it first.
        """
        now = self._clock()
        for action in PREREQUISITES.get(job.action, ()):
            await self._do(action, job.special_id, None, now)
        return await self._do(job.action, job.special_id, job.planned_deal_id, now)

    async def _do(
        self, action: Action, special_id: int, planned_deal_id: int | None, now: datetime
    ) -> bool:
        if action is Action.GO_LIVE:
            async with self._sessions() as db:
                special = await transitions.go_live(db, special_id, now)
            return await self._announce(special)
        if action is Action.END:
            async with self._sessions() as db:
                special = await transitions.end_due(db, special_id, now)
            return await self._announce(special)
        if action is Action.REMINDER:
            return await self._remind(special_id, now)
        assert planned_deal_id is not None
        return await self._start_deal(planned_deal_id, now)

    async def _announce(self, special: Special | None) -> bool:
        if special is None:
            return False
        log.info("special %s is now %s", special.id, special.status)
        await self._bus.publish(special_topic(special.id), status_event(special))
        await self._bus.publish(CALENDAR_TOPIC, calendar_changed(special.id, "status"))
        return True

    async def _remind(self, special_id: int, now: datetime) -> bool:
        async with self._sessions() as db:
            keys = await transitions.claim_reminder(db, special_id, now)
            special = await db.get(Special, special_id) if keys is not None else None
        if keys is None or special is None:
            return False
        event = reminder_event(special, self._watch_path(special_id))
        await self._bus.publish(special_topic(special_id), event)
        for key in keys:
            await self._bus.publish(viewer_topic(key), event)
        return True

    async def _start_deal(self, planned_deal_id: int, now: datetime) -> bool:
        if self._deal_starter is None:
            log.warning("planned deal %s is due but no deal starter is configured", planned_deal_id)
            return False
        async with self._sessions() as db:
            planned = await transitions.claim_planned_deal(db, planned_deal_id, now)
            special = await db.get(Special, planned.special_id) if planned else None
        if planned is None or special is None:
            return False
        start = DealStart(
            planned_deal_id=planned.id,
            special_id=planned.special_id,
            product_id=planned.product_id,
            discount_pct=planned.discount_pct,
            quantity=planned.quantity,
            per_buyer_limit=planned.per_buyer_limit,
            starts_at=now,
            ends_at=special.starts_at + timedelta(seconds=planned.offset_s + planned.duration_s),
        )
        try:
            deal_id = await self._deal_starter(start)
        except DomainError as exc:
            # Foreseeable (the product already has a deal running, …): a warning without a
            # traceback, and the studio is told why; the claim is released for a retry.
            log.warning(
                "planned deal %s of special %s did not start: %s",
                planned.id,
                planned.special_id,
                exc.message,
                extra={"fields": {"code": exc.code, "product_id": planned.product_id}},
            )
            async with self._sessions() as db:
                await transitions.record_deal(db, planned.id, None, failed=True)
            event = planned_deal_refused(
                planned.special_id, planned.id, planned.product_id, exc.code, exc.message
            )
            await self._bus.publish(special_topic(planned.special_id), event)
            return False
        except Exception:
            # Released so a retry (here or on another instance) may claim it again.
            async with self._sessions() as db:
                await transitions.record_deal(db, planned.id, None, failed=True)
            raise
        async with self._sessions() as db:
            await transitions.record_deal(db, planned.id, deal_id)
        return True
