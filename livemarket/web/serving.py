"""Run one server process: build the app, freeze the heap, serve until told to stop.

``livemarket serve`` uses this for its single process, and every worker of
``serve --workers N`` uses it too (``livemarket.web.workers``), so both paths
share the event loop choice and the shutdown timeout. (The access logger, JSON
lines plus the HTTP figures, is the app's own: ``create_app`` installs it.)
"""

from __future__ import annotations

import asyncio
import functools
import gc
import signal
import socket
from collections.abc import Sequence

from aiohttp import web

from livemarket.config import Settings

#: Seconds open connections get to finish when the server stops.
SHUTDOWN_TIMEOUT_S = 10.0

#: The collector's thresholds while serving (Python's default is 700, 10, 10). Each
#: request allocates and frees hundreds of objects, so the default runs a young
#: collection every few requests: measured in a sell-out crowd's refusal flood,
#: 0.3 s of collection per 45,000 requests (about 4 % of the server's time), and
#: 0.02 s with these. Cyclic garbage (a closed connection's objects) waits a little
#: longer: at most 20,000 objects more.
GC_THRESHOLDS = (20_000, 20, 20)


def new_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """The event loop ``serve`` runs on (uvloop when the settings ask for it)."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise SystemExit("livemarket: event_loop: uvloop is not installed") from exc
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _stop_once(loop: asyncio.AbstractEventLoop, parent_sentinel: int) -> None:
    """A worker stops on SIGTERM, SIGINT or its parent's death, whichever comes first.

    The first raises aiohttp's ``GracefulExit`` (what ``run_app`` does by itself); later
    signals are ignored, because a second ``GracefulExit`` would abort the graceful
    stop half-way (systemd or a supervisor may signal the whole group as well as the
    parent, which forwards SIGTERM). The parent's sentinel reads end-of-file when the
    parent is gone, even after SIGKILL, so a worker is never left orphaned.
    """
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        loop.remove_reader(parent_sentinel)
        raise web.GracefulExit()

    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    loop.add_reader(parent_sentinel, stop)


def run_server(
    settings: Settings,
    listeners: Sequence[socket.socket] = (),
    *,
    banner: str = "",
    parent_sentinel: int | None = None,
) -> None:
    """Serve ``create_app(settings)`` until SIGTERM/SIGINT, printing ``banner`` once started.

    Without ``listeners`` it binds ``settings.host:settings.port`` itself; a worker
    gets sockets its parent bound (the shared SO_REUSEPORT port and its own port)
    and the parent's sentinel (see :func:`_stop_once`).
    """
    from livemarket.web.app import create_app

    app = create_app(settings)
    # Everything built so far (SQLAlchemy, pydantic, templates) lives as long as the
    # process: keep it out of the collector's full passes, which otherwise walk it all
    # again and again under load (10-30 % of checkout throughput measured).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if banner:
        # Last of the start-up hooks (cleanup contexts run first): the banner follows
        # every start-up log line instead of scrolling away under them.
        async def announce(_: web.Application) -> None:
            print(banner, flush=True)

        app.on_startup.append(announce)
    loop = new_loop(settings)
    if parent_sentinel is not None:
        _stop_once(loop, parent_sentinel)
    run = functools.partial(
        web.run_app,
        app,
        loop=loop,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        handle_signals=parent_sentinel is None,
    )
    if listeners:
        run(sock=list(listeners))
    else:
        run(host=settings.host, port=settings.port)
