"""Every shared object of the application, as a typed ``web.AppKey`` (one place, no strings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from livemarket.bus.events import EventBus
from livemarket.config import Settings
from livemarket.tasks import TaskBoard
from livemarket.web.cors import CorsPolicy

Clock = Callable[[], datetime]

SETTINGS_KEY = web.AppKey("settings", Settings)
ENGINE_KEY = web.AppKey("engine", AsyncEngine)
SESSIONS_KEY = web.AppKey("sessions", async_sessionmaker[AsyncSession])
BUS_KEY = web.AppKey("bus", EventBus)
#: The server's clock (aware UTC); tests replace it to control time.
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
METRICS_KEY = web.AppKey("metrics", CollectorRegistry)
SECRET_KEY = web.AppKey("secret_key", bytes)
#: The health of every supervised background loop (``livemarket/tasks.py``).
TASKS_KEY = web.AppKey("tasks", TaskBoard)

from redis.asyncio import Redis  # noqa: E402

#: The shared Redis client in scale-out mode; absent in the embedded mode.
REDIS_KEY = web.AppKey("redis", Redis)

# Pages (livemarket/web/templating.py): the Jinja2 environment, the flattened ko/en
# catalogs, and a content hash per static file for cache-busting URLs.
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)
I18N_KEY = web.AppKey("i18n_catalogs", dict[str, dict[str, str]])
STATIC_VERSIONS_KEY = web.AppKey("static_versions", dict[str, str])
#: The pages' Content-Security-Policy, built once from the settings (see templating).
CSP_KEY = web.AppKey("content_security_policy", str)
#: Page origins allowed to open the realtime socket and to call WHIP/WHEP cross-origin.
CORS_KEY = web.AppKey("cors_policy", CorsPolicy)

# Realtime gateway (livemarket/web/realtime): the service owning rooms, chat and counters,
# and the provider of a special's active deals for the ``hello`` snapshot, which checkout
# registers (``app[ACTIVE_DEALS_KEY] = provider``); without one, ``hello`` lists no deals.
from livemarket.web.realtime.service import ActiveDeals, RealtimeService  # noqa: E402

REALTIME_KEY = web.AppKey("realtime", RealtimeService)
ACTIVE_DEALS_KEY: web.AppKey[ActiveDeals] = web.AppKey("active_deals")

# The broadcast calendar (livemarket/web/routes/calendar.py owns both in a cleanup_ctx).
from livemarket.scheduler.runner import DealStarter, Runner  # noqa: E402
from livemarket.scheduler.service import CalendarService  # noqa: E402

CALENDAR_KEY = web.AppKey("calendar_service", CalendarService)
RUNNER_KEY = web.AppKey("calendar_runner", Runner)
#: Set by the checkout part (in its setup, before the calendar starts) so the runner can
#: start planned flash deals; without it planned deals are logged, not started.
DEAL_STARTER_KEY: web.AppKey[DealStarter] = web.AppKey("deal_starter")

# Checkout (livemarket/web/routes/checkout.py owns it in a cleanup_ctx): database, stock
# ledger, bus, clock and payment provider that every checkout service takes.
from livemarket.checkout.context import CheckoutContext  # noqa: E402

CHECKOUT_KEY = web.AppKey("checkout", CheckoutContext)

# Streamer (livemarket/web/routes/media.py owns it in a cleanup_ctx): the live relays of
# this server, one per special; ``registry.figures()`` feeds the studio and metrics.
from livemarket.streamer.registry import RelayRegistry  # noqa: E402

RELAYS_KEY = web.AppKey("relays", RelayRegistry)

# Which instance holds each special's relay (livemarket/streamer/directory.py; owned by the
# same cleanup_ctx): a Redis directory in scale-out mode, "always here" when embedded.
from livemarket.streamer.directory import RelayDirectory  # noqa: E402

DIRECTORY_KEY: web.AppKey[RelayDirectory] = web.AppKey("relay_directory")

#: Listeners of every relay state change (special id, state), called on the loop; the
#: simulcast manager starts and stops pushes from here.
STREAM_LISTENERS_KEY: web.AppKey[list[Callable[[int, str], None]]] = web.AppKey("stream_listeners")

# Simulcast (livemarket/web/routes/simulcast.py owns it in a cleanup_ctx).
from livemarket.simulcast.manager import SimulcastManager  # noqa: E402

SIMULCAST_KEY = web.AppKey("simulcast", SimulcastManager)

# HLS (livemarket/web/routes/hls.py owns it in a cleanup_ctx; absent with ``hls`` off).
from livemarket.streamer.hls.service import HlsService  # noqa: E402

HLS_KEY = web.AppKey("hls", HlsService)
