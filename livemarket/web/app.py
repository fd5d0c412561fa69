"""The application factory: settings, storage, bus and every part's routes, with owners.

Each part contributes a ``setup(app)`` (routes, and its services via
``cleanup_ctx``), so start-up and shutdown are paired and nothing leaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.backoff import ExponentialBackoff

from livemarket.bus.events import EventBus
from livemarket.bus.memory import InProcessBus
from livemarket.config import Settings
from livemarket.config.secret import ensure_secret_key
from livemarket.storage.base import utcnow
from livemarket.storage.engine import engine_for, session_factory
from livemarket.tasks import TaskBoard
from livemarket.web import metrics, openapi, shop_metrics
from livemarket.web.api import OPERATIONS_KEY
from livemarket.web.auth import csrf_middleware, setup_sessions
from livemarket.web.cors import CorsPolicy
from livemarket.web.errors import error_middleware
from livemarket.web.realtime import gateway as realtime_gateway
from livemarket.web.routes import (
    calendar,
    console,
    console_catalogue,
    figures,
    health,
    hls,
    media,
    pages,
    people,
    platforms,
    products,
    replay,
    session,
    simulcast,
    specials,
)
from livemarket.web.routes import checkout as checkout_routes
from livemarket.web.typedefs import (
    BUS_KEY,
    CLOCK_KEY,
    CORS_KEY,
    ENGINE_KEY,
    REDIS_KEY,
    SECRET_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

#: A Redis command retries this often on a broken connection, backing off this much
#: (redis-py's default, 10 retries up to 1 s apart, holds each request for seconds
#: while Redis is down; a quick 503 lets the client come back instead).
REDIS_RETRIES = 2
REDIS_BACKOFF = ExponentialBackoff(cap=0.2, base=0.02)

#: Largest request body accepted (SDP offers and JSON bodies are a few KiB).
MAX_BODY_BYTES = 256 * 1024

#: Every part's ``setup(app)``, in order; pages come last so API routes win.
PART_SETUPS: list[Callable[[web.Application], None]] = [
    openapi.setup,
    session.setup,
    health.setup,
    products.setup,
    specials.setup,
    checkout_routes.setup,
    calendar.setup,
    console.setup,
    console_catalogue.setup,
    realtime_gateway.setup,
    media.setup,
    hls.setup,
    simulcast.setup,
    figures.setup,
    platforms.setup,
    people.setup,
    replay.setup,
    pages.setup,
]


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = engine_for(app[SETTINGS_KEY])
    app[ENGINE_KEY] = engine
    app[SESSIONS_KEY] = session_factory(engine)
    yield
    await engine.dispose()


async def _redis_and_bus_ctx(app: web.Application) -> AsyncIterator[None]:
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


def create_app(settings: Settings) -> web.Application:
    """A ready-to-run application for ``settings`` (the database must be migrated)."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[error_middleware],
        # HTTP figures come from the access logger aiohttp calls for every request.
        handler_args={"access_log_class": metrics.MeteredAccessLogger},
    )
    app[SETTINGS_KEY] = settings
    app[CORS_KEY] = CorsPolicy.from_settings(settings)
    app[CLOCK_KEY] = utcnow
    app[OPERATIONS_KEY] = []
    app[TASKS_KEY] = TaskBoard()
    secret = ensure_secret_key(settings)
    app[SECRET_KEY] = secret
    setup_sessions(app, secret, secure=settings.secure_cookies)
    app.middlewares.append(csrf_middleware)
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_redis_and_bus_ctx)
    metrics.setup(app)
    shop_metrics.setup(app)
    for setup_part in PART_SETUPS:
        setup_part(app)
    return app
