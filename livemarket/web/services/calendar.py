"""The broadcast calendar: its write service and the runner of its timed jobs.

The runner starts planned flash deals through ``DEAL_STARTER_KEY``, which the root
registers from checkout before anything starts (``checkout.provide``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web

from livemarket.scheduler.calendar import CalendarRules
from livemarket.scheduler.driver import APSchedulerDriver
from livemarket.scheduler.runner import Runner
from livemarket.scheduler.service import CalendarService
from livemarket.web.typedefs import (
    BUS_KEY,
    CALENDAR_KEY,
    CLOCK_KEY,
    DEAL_STARTER_KEY,
    RUNNER_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)

#: How often the runner re-reads the whole calendar, for changes made behind the bus's back.
RESYNC_SECONDS = 300.0


async def calendar(app: web.Application) -> AsyncIterator[None]:
    """The calendar service and its runner (started; stopped on the way down)."""
    settings = app[SETTINGS_KEY]

    def clock() -> datetime:
        return app[CLOCK_KEY]()

    app[CALENDAR_KEY] = CalendarService(
        app[SESSIONS_KEY],
        app[BUS_KEY],
        clock,
        CalendarRules.from_settings(settings),
        go_live_early_minutes=settings.go_live_early_minutes,
    )
    runner = Runner(
        app[SESSIONS_KEY],
        app[BUS_KEY],
        clock,
        APSchedulerDriver(),
        deal_starter=app.get(DEAL_STARTER_KEY),
        resync_every=RESYNC_SECONDS,
    )
    app[RUNNER_KEY] = runner
    await runner.start()
    try:
        yield
    finally:
        await runner.stop()
