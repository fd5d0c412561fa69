"""Prometheus metrics: one registry per app, HTTP figures, and ``GET /metrics``.

Other parts add their figures by registering collectors on ``app[METRICS_KEY]``
(a per-app registry, so two apps in one test process never collide).
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from livemarket.web.typedefs import METRICS_KEY

_HTTP_KEY = web.AppKey("http_metrics", tuple[Counter, Histogram])


def _route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests and time them by method, route template and status."""
    requests, latency = request.app[_HTTP_KEY]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route_label(request)
        requests.labels(request.method, route, str(status)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    registry = CollectorRegistry()
    app[METRICS_KEY] = registry
    app[_HTTP_KEY] = (
        Counter(
            "livemarket_http_requests", "HTTP requests served",
            ["method", "route", "status"], registry=registry,
        ),
        Histogram(
            "livemarket_http_request_seconds", "HTTP request latency",
            ["method", "route"], registry=registry,
        ),
    )
    app.router.add_get("/metrics", metrics_endpoint)
