"""The application factory: settings, middlewares, the services and every part's routes.

The services (storage, bus, checkout, calendar, realtime, streaming, …) are built in
one place, the composition root ``web/services``, in the order it documents. Each
part contributes a ``setup(app)`` that adds its routes and reads services by key.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from livemarket.config import Settings
from livemarket.config.secret import ensure_secret_key
from livemarket.storage.base import utcnow
from livemarket.tasks import TaskBoard
from livemarket.web import metrics, openapi, services, shop_metrics
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
    replay,
    session,
    simulcast,
    specials,
)
from livemarket.web.routes import checkout as checkout_routes
from livemarket.web.typedefs import (
    CLOCK_KEY,
    CORS_KEY,
    SECRET_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

#: Largest request body accepted (SDP offers and JSON bodies are a few KiB).
MAX_BODY_BYTES = 256 * 1024

#: Every part's ``setup(app)`` (routes only), in order; pages come last so API routes win.
PART_SETUPS: list[Callable[[web.Application], None]] = [
    openapi.setup,
    session.setup,
    health.setup,
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
    services.install(app)
    metrics.setup(app)
    shop_metrics.setup(app)
    for setup_part in PART_SETUPS:
        setup_part(app)
    return app
