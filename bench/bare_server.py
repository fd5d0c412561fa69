"""A bare aiohttp server answering the two requests of a refusal phase, for calibration.

Why it exists: machines differ a lot (the same code gave 4,000-4,800 sold-out refusals/s
on one 2-core machine and 2,000-3,900 on another), so a checkout figure alone cannot be
compared across machines. This server does the least any aiohttp server can do for the
requests the bench's buyers send - ``GET /api/v1/session`` answers ``{"csrf_token": "x"}``
and ``POST /api/v1/orders`` reads and ``json.loads``-es the body, then answers a fixed 409
error of the same shape and size as a real refusal - so requests/s against it, with the
same client, is the best the HTTP stack and the load generator can do on this machine:
the ceiling ``bench/checkout.py`` reports next to its own figures.

Run as ``python bench/bare_server.py --port P [--reuse-port]`` (uvloop, no access log);
it prints ``ready`` once listening and stops on SIGTERM or SIGINT. Several processes
started with ``--reuse-port`` on one port share the connections like server workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

HOST = "127.0.0.1"
PRODUCT_ID = 1
REFUSAL = json.dumps(
    {"error": {"code": "sold_out", "message": "sold out", "product_id": PRODUCT_ID}}
).encode()
SESSION = json.dumps({"csrf_token": "x"}).encode()


async def session(request: web.Request) -> web.Response:
    return web.Response(body=SESSION, content_type="application/json")


async def order(request: web.Request) -> web.Response:
    json.loads(await request.read())  # the least a real handler does with the order
    return web.Response(body=REFUSAL, status=409, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status": "ok"}', content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/v1/session", session)
    app.router.add_post("/api/v1/orders", order)
    app.router.add_get("/healthz", healthz)
    return app


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(port: int, reuse_port: bool) -> None:
    """Serve until SIGTERM/SIGINT; print ``ready`` once the socket listens."""
    web.run_app(
        make_app(),
        loop=_new_loop(),
        host=HOST,
        port=port,
        reuse_port=reuse_port or None,
        access_log=None,
        print=lambda *_: print("ready", flush=True),
        handle_signals=True,
        shutdown_timeout=1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    serve(args.port, args.reuse_port)


if __name__ == "__main__":
    main()
