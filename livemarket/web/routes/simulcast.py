"""Simulcast over HTTP: operators manage RTMP(S) destinations; hosts see their status.

Stream keys go in and never come out (only their last four characters). The
manager that pushes each live special is owned by a ``cleanup_ctx`` and hears
the relays' state through ``STREAM_LISTENERS_KEY``; its status changes go to
the special's realtime topic as ``simulcast.status`` frames and to ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field

from livemarket.accounts.roles import Access, can_run_special
from livemarket.bus import catalogue
from livemarket.bus.events import special_topic
from livemarket.scheduler.queries import get_special
from livemarket.simulcast import service
from livemarket.simulcast.keys import StreamKeyBox
from livemarket.simulcast.manager import SimulcastManager
from livemarket.simulcast.rules import push_url
from livemarket.simulcast.testcard import send_test_card
from livemarket.web import templating
from livemarket.web.api import ApiRoutes, body_of, path_int
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.responses import json_response
from livemarket.web.routes.console_catalogue import operator_only
from livemarket.web.typedefs import (
    BUS_KEY,
    METRICS_KEY,
    RELAYS_KEY,
    SECRET_KEY,
    SESSIONS_KEY,
    SIMULCAST_KEY,
    STREAM_LISTENERS_KEY,
)

logger = logging.getLogger(__name__)

routes = ApiRoutes()
TAGS = ("simulcast",)
BOX_KEY = web.AppKey("simulcast_box", StreamKeyBox)
#: Destinations with a test card on its way (one at a time each).
TESTING_KEY: web.AppKey[set[int]] = web.AppKey("simulcast_testing")


class DestinationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=8, max_length=250)
    stream_key: str = Field(min_length=1, max_length=200)
    platform_id: int | None = None
    special_id: int | None = None
    enabled: bool = True


class DestinationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=80)
    url: str | None = Field(None, min_length=8, max_length=250)
    stream_key: str | None = Field(None, min_length=1, max_length=200)
    platform_id: int | None = None
    special_id: int | None = None
    enabled: bool | None = None


@routes.get(
    "/api/v1/simulcast/destinations",
    access=Access.OPERATOR,
    tags=TAGS,
    summary="Simulcast destinations (stream keys shown by their last four characters only)",
)
async def destinations_index(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        found = await service.list_destinations(db)
    items = [service.destination_to_dict(d) for d in found]
    return json_response({"items": items, "next": None})


@routes.post(
    "/api/v1/simulcast/destinations",
    access=Access.OPERATOR,
    body=DestinationBody,
    tags=TAGS,
    status=201,
    errors=(422,),
    summary="Add an RTMP(S) destination for a partner platform or a special",
)
async def create_destination(request: web.Request) -> web.Response:
    body = body_of(request, DestinationBody)
    async with request.app[SESSIONS_KEY]() as db:
        destination = await service.create_destination(
            db, request.app[BOX_KEY], **body.model_dump()
        )
    return json_response(service.destination_to_dict(destination), status=201)


@routes.patch(
    "/api/v1/simulcast/destinations/{destination_id}",
    access=Access.OPERATOR,
    body=DestinationPatch,
    tags=TAGS,
    errors=(404, 422),
    summary="Edit, enable or disable a destination, or give it a new stream key",
)
async def patch_destination(request: web.Request) -> web.Response:
    destination_id = path_int(request, "destination_id")
    body = body_of(request, DestinationPatch)
    async with request.app[SESSIONS_KEY]() as db:
        destination = await service.update_destination(
            db, request.app[BOX_KEY], destination_id, **body.model_dump(exclude_unset=True)
        )
    return json_response(service.destination_to_dict(destination))


@routes.delete(
    "/api/v1/simulcast/destinations/{destination_id}",
    access=Access.OPERATOR,
    tags=TAGS,
    status=204,
    errors=(404,),
    summary="Remove a destination",
)
async def delete_destination(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        await service.delete_destination(db, path_int(request, "destination_id"))
    return web.Response(status=204)


@routes.post(
    "/api/v1/simulcast/destinations/{destination_id}/test",
    access=Access.OPERATOR,
    tags=TAGS,
    errors=(404, 409),
    summary="Send 5 seconds of a test card to the destination; says whether it went through",
)
async def test_destination(request: web.Request) -> web.Response:
    destination_id = path_int(request, "destination_id")
    async with request.app[SESSIONS_KEY]() as db:
        destination = await service.get_destination(db, destination_id)
        target = push_url(destination.url, request.app[BOX_KEY].open(destination.key_cipher))
    testing = request.app[TESTING_KEY]
    if destination_id in testing:
        raise ApiError(409, "test_running", "A test card is already on its way there.")
    testing.add(destination_id)
    try:
        reason = await send_test_card(target)
    finally:
        testing.discard(destination_id)
    return json_response({"id": destination_id, "ok": reason is None, "reason": reason})


@routes.get(
    "/api/v1/specials/{special_id}/simulcast",
    access=Access.HOST,
    tags=TAGS,
    errors=(401, 403, 404),
    summary="Each destination's state, bitrate, uptime and reconnects while the special airs",
)
async def simulcast_status(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
    if not can_run_special(await principal(request), special.host_id):
        raise ApiError(403, "forbidden", "Only this special's host or an operator.")
    status = request.app[SIMULCAST_KEY].status(special_id)
    return json_response(status or {"special_id": special_id, "destinations": []})


class SimulcastCollector:
    """Prometheus figures per special and destination (both bounded by the operators)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        manager = self._app.get(SIMULCAST_KEY)
        if manager is None:
            return
        labels = ["special_id", "destination_id"]
        live = GaugeMetricFamily(
            "livemarket_simulcast_live",
            "1 while the destination receives the stream",
            labels=labels,
        )
        bitrate = GaugeMetricFamily(
            "livemarket_simulcast_bitrate_bps", "Bits per second pushed", labels=labels
        )
        reconnects = CounterMetricFamily(
            "livemarket_simulcast_reconnects", "Times the push was restarted", labels=labels
        )
        sent = CounterMetricFamily(
            "livemarket_simulcast_sent_bytes", "Bytes pushed to the destination", labels=labels
        )
        for status in manager.all_status():
            for destination in status["destinations"]:
                label = [str(status["special_id"]), str(destination["id"])]
                live.add_metric(label, 1.0 if destination["state"] == "live" else 0.0)
                bitrate.add_metric(label, destination["bitrate_bps"])
                reconnects.add_metric(label, destination["reconnects"])
                sent.add_metric(label, destination["bytes_sent"])
        yield from (live, bitrate, reconnects, sent)


async def _simulcast_ctx(app: web.Application) -> AsyncIterator[None]:
    async def announce(special_id: int, status: dict[str, Any]) -> None:
        try:
            event = {"type": catalogue.SIMULCAST_STATUS, **status}
            await app[BUS_KEY].publish(special_topic(special_id), event)
        except Exception:  # the bus down for a moment: the next change tells again
            logger.exception("simulcast status of special %s not announced", special_id)

    manager = SimulcastManager(
        app[SESSIONS_KEY],
        app[BOX_KEY],
        find_relay=lambda special_id: app[RELAYS_KEY].find(special_id),
        announce=announce,
    )
    app[SIMULCAST_KEY] = manager
    app[STREAM_LISTENERS_KEY].append(manager.on_stream_state)
    yield
    app[STREAM_LISTENERS_KEY].remove(manager.on_stream_state)
    await manager.close()


async def console_page(request: web.Request) -> web.Response:
    """``/console/simulcast``: operators add, test, enable and remove destinations."""
    refused = await operator_only(request)
    if refused is not None:
        return refused
    return await templating.render(
        request, "console_simulcast.html", {"scripts": ["js/simulcast_console.js"]}
    )


def setup(app: web.Application) -> None:
    """Destination routes and the simulcast manager (after the relays: it closes first)."""
    app[BOX_KEY] = StreamKeyBox(app[SECRET_KEY])
    app[TESTING_KEY] = set()
    app.cleanup_ctx.append(_simulcast_ctx)
    if METRICS_KEY in app:
        app[METRICS_KEY].register(SimulcastCollector(app))
    routes.install(app)
    app.router.add_get("/console/simulcast", console_page)
