"""The composition root: every long-lived service of the app, built in one readable order.

As in aiohttp's background-tasks example, each service is an async generator for
``app.cleanup_ctx``: the code before its ``yield`` builds and starts it and puts it
under its key in ``web/typedefs.py``; the code after stops it. ``install`` appends
them in the order of ``CORE_SERVICES``, so each may use every service above it, and
aiohttp stops them in reverse (a failed start stops those already up). Route modules
(``web/routes``, the realtime gateway) only add routes and read services from their
keys; none starts or stops anything.

Providers one part offers another (checkout's active deals for the realtime ``hello``,
its deal starter for the calendar's runner) and plain registries (the relays' listeners)
are set by ``provide`` steps before anything starts; a provider reaches its service
only when called, so it adds no order.

A new part (HLS, replay, …) adds its routes with one ``setup(app)`` line in
``web/app.py``'s ``PART_SETUPS``; if it also owns a service, it appends that service
here to ``PART_SERVICES``. Part services start after every core service (so they may
use any of them) and stop before; they must not depend on one another (a service
others need belongs in ``CORE_SERVICES``, at its place in the order).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from livemarket.web.services import (
    accounts,
    calendar,
    checkout,
    figures,
    hls,
    realtime,
    replay,
    storage,
    streaming,
)

#: One service: builds and starts before its ``yield``, stops after it.
Service = Callable[[web.Application], AsyncIterator[None]]

#: The core services in the order they start (each may use those above it).
CORE_SERVICES: list[Service] = [
    storage.database,  # engine and sessions
    storage.redis_and_bus,  # Redis (scale-out only), the event bus
    accounts.accounts,  # login budget, session generations
    checkout.checkout,  # stock ledger, stock pusher, sweeper
    calendar.calendar,  # calendar service and runner (starts planned deals via checkout)
    realtime.realtime,  # chat, presence, likes, rooms, sockets
    streaming.relays,  # relay directory and registry (WHIP/WHEP)
    streaming.simulcast,  # pushes of live relays to other platforms
    figures.recorder,  # show figures sampler (reads realtime's counters)
]

#: Services of parts added later; they start after every core service, stop before.
PART_SERVICES: list[Service] = [hls.hls, replay.moments]


def install(app: web.Application) -> None:
    """Register every provider, then every service in order, on ``app`` (not started)."""
    checkout.provide(app)
    streaming.provide(app)
    for service in [*CORE_SERVICES, *PART_SERVICES]:
        app.cleanup_ctx.append(service)
    # Before handlers are waited for on shutdown: every socket gets 1001 (going away).
    app.on_shutdown.append(realtime.close_sockets)
