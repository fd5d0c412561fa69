"""The figures an operations team graphs and alerts on, beyond HTTP and the relay.

Hot paths only bump plain integers on ``ShopCounts`` (one dict or int add, no locks, no
label lookups); the collector turns them into Prometheus families when ``/metrics`` is
scraped, and reads gauges (open sockets, running deals) from their owners at that moment.
Labels are bounded by construction: route templates and error codes are fixed sets, and
specials are the season's few dozen; nothing is labelled per user or per order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from livemarket.figures.store import live_special_ids
from livemarket.web.metrics import SCRAPE_HOOKS_KEY
from livemarket.web.typedefs import ACTIVE_DEALS_KEY, ENGINE_KEY, METRICS_KEY, REALTIME_KEY

log = logging.getLogger(__name__)


class ShopCounts:
    """Counters bumped where things happen; read at scrape time."""

    def __init__(self) -> None:
        #: (route template, error code) -> API answers refused with that code
        self.refusals: Counter[tuple[str, str]] = Counter()
        #: "created" (a new order) or "replayed" (a retried Idempotency-Key)
        self.orders: Counter[str] = Counter()
        self.revenue_krw = 0
        #: (special_id, product_id) -> units left of the deal running there, as of the last scrape
        self.deal_units_left: dict[tuple[int, int], int] = {}
        #: ``database_unavailable``, ``redis_unavailable``, … -> 503 answers given for it
        self.outages: Counter[str] = Counter()

    def order_placed(self, created: bool, total: int) -> None:
        if created:
            self.orders["created"] += 1
            self.revenue_krw += total
        else:
            self.orders["replayed"] += 1


SHOP_COUNTS_KEY = web.AppKey("shop_counts", ShopCounts)


def route_of(request: web.Request) -> str:
    """The route template that answered (``unmatched`` before routing)."""
    match_info = getattr(request, "_match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else "unmatched"


def count_refusal(request: web.Request, code: str) -> None:
    counts = request.app.get(SHOP_COUNTS_KEY)
    if counts is not None:
        counts.refusals[(route_of(request), code)] += 1


def count_outage(request: web.Request, code: str) -> None:
    counts = request.app.get(SHOP_COUNTS_KEY)
    if counts is not None:
        counts.outages[code] += 1
        counts.refusals[(route_of(request), code)] += 1


async def refresh_deals(app: web.Application) -> None:
    """Read every running deal's units left, through the same provider viewers see."""
    counts = app[SHOP_COUNTS_KEY]
    provider = app.get(ACTIVE_DEALS_KEY)
    if provider is None:
        return
    left: dict[tuple[int, int], int] = {}
    for special_id in await live_special_ids(app[ENGINE_KEY]):
        for deal in await provider(special_id):
            left[(special_id, int(deal["product_id"]))] = int(deal.get("remaining", 0))
    counts.deal_units_left = left


class ShopCollector:
    """Prometheus families from ``ShopCounts`` and the realtime hub."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        counts = self._app.get(SHOP_COUNTS_KEY)
        if counts is None:
            return
        refusals = CounterMetricFamily(
            "livemarket_api_refusals",
            "API answers refused, by route and error code",
            labels=["route", "code"],
        )
        for (route, code), value in sorted(counts.refusals.items()):
            refusals.add_metric([route, code], value)
        yield refusals
        orders = CounterMetricFamily(
            "livemarket_orders",
            "Orders answered: created, or replayed for a retried key",
            labels=["outcome"],
        )
        for outcome in ("created", "replayed"):
            orders.add_metric([outcome], counts.orders[outcome])
        yield orders
        yield CounterMetricFamily(
            "livemarket_order_revenue_krw",
            "Revenue of the orders created here (KRW)",
            value=counts.revenue_krw,
        )
        running = GaugeMetricFamily(
            "livemarket_deals_running", "Flash deals running now", value=len(counts.deal_units_left)
        )
        yield running
        left = GaugeMetricFamily(
            "livemarket_deal_units_left",
            "Units left of the deals running now",
            labels=["special_id"],
        )
        per_special: Counter[int] = Counter()
        for (special_id, _product), units in counts.deal_units_left.items():
            per_special[special_id] += units
        for special_id, units in sorted(per_special.items()):
            left.add_metric([str(special_id)], units)
        yield left
        yield from self._sockets()
        outages = CounterMetricFamily(
            "livemarket_dependency_outages",
            "Requests answered 503 because a dependency was away, by code",
            labels=["code"],
        )
        for code, value in sorted(counts.outages.items()):
            outages.add_metric([code], value)
        yield outages

    def _sockets(self) -> Iterator[Metric]:
        realtime: Any = self._app.get(REALTIME_KEY)
        if realtime is not None:
            yield from _realtime_families(realtime)
        per_special = GaugeMetricFamily(
            "livemarket_sockets_open",
            "Realtime sockets open on this instance",
            labels=["special_id"],
        )
        if realtime is not None:
            for name, room in sorted(realtime.hub.rooms.items(), key=lambda item: str(item[0])):
                per_special.add_metric([str(name)], len(room.connections))
        yield per_special
        total = 0 if realtime is None else realtime.hub.connection_count()
        yield GaugeMetricFamily(
            "livemarket_sockets_open_total", "Realtime sockets open on this instance", value=total
        )


def _realtime_families(realtime: Any) -> Iterator[Metric]:
    """Chat outcomes, error frames by code, and how long each fan-out took."""
    chat = CounterMetricFamily(
        "livemarket_chat_messages", "Chat messages accepted or refused, by code", labels=["outcome"]
    )
    chat.add_metric(["accepted"], realtime.chat.accepted)
    for code, value in sorted(realtime.chat.refused.items()):
        chat.add_metric([code], value)
    yield chat
    frames = CounterMetricFamily(
        "livemarket_socket_refusals",
        "Error frames sent on realtime sockets, by code",
        labels=["code"],
    )
    for code, value in sorted(realtime.refusals.items()):
        frames.add_metric([code], value)
    yield frames
    times = realtime.hub.flush_times
    buckets, running = [], 0
    for bound, count in zip([*map(str, times.BOUNDS), "+Inf"], times.counts, strict=True):
        running += count
        buckets.append((bound, running))
    yield HistogramMetricFamily(
        "livemarket_fanout_seconds",
        "Time to write one realtime frame to every socket of a room",
        buckets=buckets,
        sum_value=times.total_s,
    )


def setup(app: web.Application) -> None:
    """Counts on the app, the collector on its registry, the deals read before each scrape."""
    app[SHOP_COUNTS_KEY] = ShopCounts()
    if METRICS_KEY in app:
        app[METRICS_KEY].register(ShopCollector(app))
        app[SCRAPE_HOOKS_KEY].append(refresh_deals)
