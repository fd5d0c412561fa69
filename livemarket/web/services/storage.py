"""Storage and messaging, the first services up and the last down: the database engine
and its sessions, then Redis (scale-out only) and the event bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.backoff import ExponentialBackoff

from livemarket.bus.events import EventBus
from livemarket.bus.memory import InProcessBus
from livemarket.storage.engine import engine_for, session_factory
from livemarket.web.typedefs import (
    BUS_KEY,
    ENGINE_KEY,
    REDIS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

#: A Redis command retries this often on a broken connection, backing off this much
#: (redis-py's default, 10 retries up to 1 s apart, holds each request for seconds
#: while Redis is down; a quick 503 lets the client come back instead).
REDIS_RETRIES = 2
REDIS_BACKOFF = ExponentialBackoff(cap=0.2, base=0.02)


async def database(app: web.Application) -> AsyncIterator[None]:
    """The database engine and its session factory."""
    engine = engine_for(app[SETTINGS_KEY])
    app[ENGINE_KEY] = engine
    app[SESSIONS_KEY] = session_factory(engine)
    yield
    await engine.dispose()


async def redis_and_bus(app: web.Application) -> AsyncIterator[None]:
    """The shared Redis client and the Redis bus in scale-out; the in-process bus embedded."""
    settings = app[SETTINGS_KEY]
    bus: EventBus
    if settings.redis_url:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry

        from livemarket.bus.redis import RedisBus

        client = Redis.from_url(
            settings.redis_url, decode_responses=False, retry=Retry(REDIS_BACKOFF, REDIS_RETRIES)
        )
        app[REDIS_KEY] = client
        bus = RedisBus(client, prefix=settings.redis_prefix, board=app[TASKS_KEY])
    else:
        bus = InProcessBus()
    app[BUS_KEY] = bus
    yield
    await bus.close()
    if REDIS_KEY in app:
        await app[REDIS_KEY].aclose()
