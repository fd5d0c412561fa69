"""``GET /healthz``: liveness, whether the database and Redis answer, and the background loops.

A loop that is failing (waiting to restart after an error of its dependency)
makes the instance ``degraded`` (503) like a dependency that does not answer.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from livemarket.web.responses import json_response
from livemarket.web.typedefs import ENGINE_KEY, REDIS_KEY, SETTINGS_KEY, TASKS_KEY

PROBE_TIMEOUT_S = 2.0


async def _database_ok(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), app[ENGINE_KEY].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _redis_state(app: web.Application) -> str:
    client = app.get(REDIS_KEY)
    if client is None:
        return "disabled"
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await client.ping()
    except Exception:
        return "down"
    return "ok"


async def healthz(request: web.Request) -> web.Response:
    database = "ok" if await _database_ok(request.app) else "down"
    redis = await _redis_state(request.app)
    board = request.app[TASKS_KEY]
    healthy = database == "ok" and redis != "down" and board.healthy
    # Which instance answered (each worker of ``serve --workers`` has its own URL).
    instance = request.app[SETTINGS_KEY].instance_url or None
    return json_response(
        {
            "status": "ok" if healthy else "degraded",
            "database": database,
            "redis": redis,
            "instance": instance,
            "tasks": {health.name: health.as_json() for health in board.snapshot()},
        },
        status=200 if healthy else 503,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
