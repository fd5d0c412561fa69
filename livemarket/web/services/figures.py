"""The show figures' sampler: viewers and likes of live specials, stored each minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from livemarket.figures.recorder import FiguresRecorder
from livemarket.tasks import cancel_and_wait
from livemarket.web.typedefs import CLOCK_KEY, ENGINE_KEY, REALTIME_KEY

_RECORDER_KEY = web.AppKey("figures_recorder", FiguresRecorder)


async def recorder(app: web.Application) -> AsyncIterator[None]:
    """The sampler of live specials' viewers and likes (it reads realtime's counters)."""
    realtime = app[REALTIME_KEY]

    async def sample(ids: list[int]) -> dict[int, tuple[int, int]]:
        viewers = await realtime.presence.totals(ids)
        return {sid: (viewers.get(sid, 0), await realtime.likes.total(sid)) for sid in ids}

    recorder = FiguresRecorder(app[ENGINE_KEY], sample, app[CLOCK_KEY])
    app[_RECORDER_KEY] = recorder
    task = asyncio.create_task(recorder.run(), name="figures-recorder")
    yield
    await cancel_and_wait([task])
    await recorder.close()
