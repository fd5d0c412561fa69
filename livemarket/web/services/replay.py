"""Replay: the recorder of a show's moments (product pins) for its replay timeline.

Needs the database, the bus and the task board, so it is a part service: it starts
after every core service and stops before them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from livemarket.replay.recorder import MomentRecorder
from livemarket.web.typedefs import BUS_KEY, CLOCK_KEY, ENGINE_KEY, TASKS_KEY

_RECORDER_KEY = web.AppKey("replay_recorder", MomentRecorder)


async def moments(app: web.Application) -> AsyncIterator[None]:
    recorder = MomentRecorder(app[ENGINE_KEY], app[BUS_KEY], app[CLOCK_KEY])
    app[_RECORDER_KEY] = recorder
    await recorder.start(app.get(TASKS_KEY))
    yield
    await recorder.close()
