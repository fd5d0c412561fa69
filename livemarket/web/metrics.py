"""Prometheus metrics: one registry per app, HTTP figures, and ``GET /metrics``.

Other parts add their figures by registering collectors on ``app[METRICS_KEY]``
(a per-app registry, so two apps in one test process never collide).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from livemarket.web.typedefs import METRICS_KEY

_HTTP_KEY = web.AppKey("http_metrics", tuple[Counter, Histogram])


_MAX_CACHED = 2_000


class _LabelledChildren:
    """The labelled counter and histogram of each (method, route, status), looked up once.

    ``labels()`` validates and locks on every call, a visible cost at thousands of
    requests a second; the set of routes and statuses is small and fixed.
    """

    def __init__(self, requests: Counter, latency: Histogram) -> None:
        self._requests = requests
        self._latency = latency
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def of(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = (
                self._requests.labels(method, route, str(status)),
                self._latency.labels(method, route),
            )
            if len(self._children) < _MAX_CACHED:  # odd methods must not grow it forever
                self._children[key] = found
        return found


_CHILDREN_KEY = web.AppKey("http_metric_children", _LabelledChildren)


def _route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests and time them by method, route template and status."""
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
        counter, timer = request.app[_CHILDREN_KEY].of(request.method, route, status)
        counter.inc()
        timer.observe(time.perf_counter() - started)


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
    app[_CHILDREN_KEY] = _LabelledChildren(*app[_HTTP_KEY])
    app.router.add_get("/metrics", metrics_endpoint)
