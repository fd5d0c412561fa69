"""Prometheus metrics: one registry per app, HTTP figures, and ``GET /metrics``.

Other parts add their figures by registering collectors on ``app[METRICS_KEY]``
(a per-app registry, so two apps in one test process never collide).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from livemarket.tasks import TaskBoard
from livemarket.web.logging import JsonAccessLogger
from livemarket.web.typedefs import METRICS_KEY, TASKS_KEY

_HTTP_KEY = web.AppKey("http_metrics", tuple[Counter, Histogram])

log = logging.getLogger(__name__)

#: Async reads run before each scrape (figures whose owner needs I/O, e.g. running deals).
ScrapeHook = Callable[[web.Application], Awaitable[None]]
SCRAPE_HOOKS_KEY = web.AppKey("metrics_scrape_hooks", list[ScrapeHook])
SCRAPE_ERRORS_KEY = web.AppKey("metrics_scrape_errors", Counter)
SCRAPE_HOOK_TIMEOUT_S = 2.0


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


def _children_and_route(request: web.BaseRequest) -> tuple[_LabelledChildren, str] | None:
    """The app's labelled figures and the route template; ``None`` before routing."""
    match_info = getattr(request, "_match_info", None)  # unset on unparsable requests
    if match_info is None or not match_info.apps:
        return None
    resource = match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    return match_info.apps[0][_CHILDREN_KEY], route


class MeteredAccessLogger(JsonAccessLogger):
    """Counts and times every request by method, route template and status, then logs it.

    aiohttp calls its access logger once per request with the status and the time
    taken, so the figures cost no middleware layer of their own (one fewer
    coroutine around every request). Installed by ``create_app`` through
    ``handler_args``, so every runner of the app (``serve``, tests) records them.
    """

    @property
    def enabled(self) -> bool:
        return True  # the figures are always wanted; the log line only at INFO

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        found = _children_and_route(request)
        if found is not None:
            counter, timer = found[0].of(request.method, found[1], response.status)
            counter.inc()
            timer.observe(time)
        if self.logger.isEnabledFor(logging.INFO):
            super().log(request, response, time)


class TaskCollector:
    """The supervised background loops: up or failing, failures, held and overflowed items."""

    def __init__(self, board: TaskBoard) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        labels = ["task"]
        up = GaugeMetricFamily(
            "livemarket_task_up",
            "1 while the loop runs, 0 while it waits to restart",
            labels=labels,
        )
        backlog = GaugeMetricFamily(
            "livemarket_task_backlog", "Items held for the loop's dependency", labels=labels
        )
        failures = CounterMetricFamily(
            "livemarket_task_failures", "Failures (restarts) of the loop", labels=labels
        )
        overflow = CounterMetricFamily(
            "livemarket_task_overflow",
            "Items refused or dropped because the loop's buffer was full",
            labels=labels,
        )
        for health in self._board.snapshot():
            if health.state == "stopped":
                continue
            up.add_metric([health.name], 1.0 if health.healthy else 0.0)
            backlog.add_metric([health.name], float(health.backlog))
            failures.add_metric([health.name], float(health.failures_total))
            overflow.add_metric([health.name], float(health.overflow))
        yield from (up, backlog, failures, overflow)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """The app's figures; a hook whose dependency is down leaves its last values."""
    for hook in request.app[SCRAPE_HOOKS_KEY]:
        try:
            async with asyncio.timeout(SCRAPE_HOOK_TIMEOUT_S):
                await hook(request.app)
        except Exception as exc:  # the figures must still be served
            log.warning("metrics: %s failed (%s)", hook.__name__, exc.__class__.__name__)
            request.app[SCRAPE_ERRORS_KEY].inc()
    body = generate_latest(request.app[METRICS_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    registry = CollectorRegistry()
    app[METRICS_KEY] = registry
    app[_HTTP_KEY] = (
        Counter(
            "livemarket_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        ),
        Histogram(
            "livemarket_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        ),
    )
    app[_CHILDREN_KEY] = _LabelledChildren(*app[_HTTP_KEY])
    app[SCRAPE_HOOKS_KEY] = []
    app[SCRAPE_ERRORS_KEY] = Counter(
        "livemarket_metrics_scrape_errors",
        "Scrapes whose live figures could not be read (their last values were served)",
        registry=registry,
    )
    registry.register(TaskCollector(app[TASKS_KEY]))
    app.router.add_get("/metrics", metrics_endpoint)
