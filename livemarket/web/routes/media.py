"""WHIP ingest and WHEP playback (RFC 9725 behaviour), and the stream's status.

``POST /whip/{special_id}`` takes the host's SDP offer with ``Authorization:
Bearer <stream key>``; ``POST /whep/{special_id}`` takes a viewer's recvonly
offer. Both answer ``201 Created`` with the SDP answer and a ``Location`` whose
``DELETE`` ends the session (its URL is an unguessable capability). Errors use
the contract's JSON shape. The relays are owned by a ``cleanup_ctx`` and closed
on shutdown; their state changes go to the special's realtime topic as
``stream.status`` frames.

Scale-out: the instance holding a special's publisher claims it in the relay
directory (``livemarket/streamer/directory.py``, which documents the rules);
elsewhere WHIP answers 409 ``stream_elsewhere`` and WHEP ``307`` to the owner.
That redirect is cross-origin when instances have their own public hosts, so
every ``/whip`` and ``/whep`` answer carries CORS headers for the allowed page
origins (:class:`CorsPolicy`), and ``OPTIONS`` answers preflights (RFC 9725 §4.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from livemarket.accounts.roles import Access, can_run_special
from livemarket.accounts.service import user_by_stream_key
from livemarket.bus.events import special_topic
from livemarket.errors import DomainError
from livemarket.scheduler.queries import get_special
from livemarket.streamer.directory import LocalDirectory, RedisDirectory, RelayDirectory
from livemarket.streamer.registry import RelayRegistry
from livemarket.streamer.relay import RECONNECTING
from livemarket.streamer.rules import check_publish_window, check_publisher
from livemarket.tasks import TaskHealth, cancel_and_wait, supervise
from livemarket.web.api import ApiRoutes, path_int
from livemarket.web.auth import csrf_exempt, principal
from livemarket.web.client_address import client_address
from livemarket.web.cors import CorsPolicy
from livemarket.web.errors import ApiError
from livemarket.web.hosts import request_origin
from livemarket.web.responses import json_response
from livemarket.web.routes.hls import hls_status
from livemarket.web.typedefs import (
    BUS_KEY,
    CLOCK_KEY,
    CORS_KEY,
    DIRECTORY_KEY,
    METRICS_KEY,
    REDIS_KEY,
    RELAYS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    STREAM_LISTENERS_KEY,
    TASKS_KEY,
)

logger = logging.getLogger(__name__)

SDP_TYPE = "application/sdp"
#: An SDP offer is a few KiB; anything bigger is not one.
MAX_SDP_BYTES = 64 * 1024

routes = ApiRoutes()

#: Paths whose answers carry CORS headers.
MEDIA_PATHS = ("/whip/", "/whep/")


async def _read_offer(request: web.Request) -> str:
    if request.content_type != SDP_TYPE:
        raise ApiError(415, "unsupported_media_type", "Send the SDP offer as application/sdp.")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        raise ApiError(413, "too_large", "The SDP offer is too large.")
    body = await request.content.read(MAX_SDP_BYTES + 1)
    if len(body) > MAX_SDP_BYTES:
        raise ApiError(413, "too_large", "The SDP offer is too large.")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad_request", "The SDP offer is not UTF-8 text.") from exc
    if not offer.startswith("v=0"):
        raise ApiError(400, "bad_request", "The body is not an SDP offer.")
    return offer


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "stream_key_missing",
            "Send the stream key as Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": 'Bearer realm="whip"'},
        )
    return token.strip()


def _created(answer: str, location: str) -> web.Response:
    return web.Response(
        status=201, text=answer, content_type=SDP_TYPE, headers={"Location": location}
    )


def _special_id(request: web.Request) -> int:
    return path_int(request, "special_id")


@csrf_exempt
async def whip_publish(request: web.Request) -> web.Response:
    """Take a publisher's offer: the special's host (or an operator) with their stream key."""
    special_id = _special_id(request)
    key = _bearer(request)
    offer = await _read_offer(request)
    settings = request.app[SETTINGS_KEY]
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
        try:
            user = await user_by_stream_key(db, key)
            check_publisher(user.role, user.id, special.host_id)
        except DomainError as exc:
            raise ApiError(
                401, exc.code, exc.message, headers={"WWW-Authenticate": 'Bearer realm="whip"'}
            ) from exc
        check_publish_window(
            special.status,
            special.starts_at,
            special.ends_at,
            request.app[CLOCK_KEY](),
            settings.go_live_early_minutes,
        )
        user_id = user.id
    relay = request.app[RELAYS_KEY].get(special_id)
    directory = request.app[DIRECTORY_KEY]
    base_url = settings.instance_url or request_origin(request)
    elsewhere = await directory.claim(special_id, base_url)
    if elsewhere is not None:
        raise ApiError(409, "stream_elsewhere", "This special is already live on another server.")
    try:
        session_id, answer = await relay.publish(offer, user_id)
    except BaseException:
        if relay.publisher_owner is None:  # nothing live here: do not keep the claim
            await directory.release(special_id)
        raise
    return _created(answer, f"{settings.instance_url}/whip/{special_id}/{session_id}")


@csrf_exempt
async def whip_end(request: web.Request) -> web.Response:
    """End a publishing session (the Location of the WHIP answer)."""
    relay = request.app[RELAYS_KEY].find(_special_id(request))
    if relay is None:
        raise ApiError(404, "session_not_found", "No such publishing session.")
    await relay.end_publisher(request.match_info["session_id"])
    await request.app[DIRECTORY_KEY].release(relay.special_id)
    return web.Response(status=200)


@csrf_exempt
async def whep_play(request: web.Request) -> web.Response:
    """Take a viewer's recvonly offer; 503 (room full) or 429 (too many connecting from
    this address) with Retry-After; a broken offer is 400 ``invalid_sdp``."""
    special_id = _special_id(request)
    offer = await _read_offer(request)
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
        if special.status in ("ended", "cancelled"):
            raise ApiError(403, "special_not_live", f"This special is {special.status}.")
    owner = await request.app[DIRECTORY_KEY].owner(special_id)
    if owner is not None:
        # Another instance holds the relay (RFC 9725 allows redirecting WHEP).
        return web.Response(status=307, headers={"Location": f"{owner}/whep/{special_id}"})
    # Full: 503 room_full; this address has too many players still connecting: 429;
    # both with Retry-After (the error middleware adds it from the domain error).
    address = client_address(request, request.app[SETTINGS_KEY].trusted_proxies)
    session_id, answer = await request.app[RELAYS_KEY].play(special_id, offer, address)
    # Absolute when this instance has its own URL: a redirected viewer's DELETE reaches it.
    instance_url = request.app[SETTINGS_KEY].instance_url
    return _created(answer, f"{instance_url}/whep/{special_id}/{session_id}")


@csrf_exempt
async def whep_end(request: web.Request) -> web.Response:
    """End a playback session."""
    relay = request.app[RELAYS_KEY].find(_special_id(request))
    if relay is None:
        raise ApiError(404, "session_not_found", "No such playback session.")
    await relay.end_viewer(request.match_info["session_id"])
    return web.Response(status=200)


async def _no_patch(request: web.Request) -> web.Response:
    """PATCH on a session: neither trickle ICE nor ICE restarts are offered.

    RFC 9725 §4.3.1: a session that supports PATCH for no purpose answers 501
    (405 is for the other methods, which aiohttp answers with an Allow header).
    Offers must carry their candidates (gathered before the POST).
    """
    raise ApiError(
        501,
        "not_implemented",
        "Trickle ICE and ICE restarts are not supported: send every candidate in the offer.",
    )


async def endpoint_options(request: web.Request) -> web.Response:
    """``OPTIONS`` on a WHIP/WHEP endpoint (RFC 9725 §4.1): what it takes; CORS preflights."""
    return web.Response(status=200, headers={"Allow": "POST, OPTIONS", "Accept-Post": SDP_TYPE})


async def session_options(request: web.Request) -> web.Response:
    """``OPTIONS`` on a session's Location: the preflight of a cross-origin DELETE."""
    return web.Response(status=204, headers={"Allow": "DELETE, OPTIONS"})


def _cors_hook(
    policy: CorsPolicy,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        # A signal, not a middleware: error answers (401, 409, 503 with Retry-After)
        # and redirects need the headers too, or a browser script cannot read them.
        if not request.path.startswith(MEDIA_PATHS):
            return
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        response.headers.update(policy.headers(request.headers.get("Origin"), preflight=preflight))
        response.headers.add("Vary", "Origin")

    return add_cors_headers


@routes.get(
    "/api/v1/specials/{special_id}/stream",
    access=Access.PUBLIC,
    summary="The special's stream: offline, live, reconnecting or ended; viewers; its HLS",
    tags=("streaming",),
    errors=(404,),
)
async def stream_status(request: web.Request) -> web.Response:
    special_id = _special_id(request)
    relay = request.app[RELAYS_KEY].find(special_id)
    if relay is None:
        async with request.app[SESSIONS_KEY]() as db:
            await get_special(db, special_id)
        return json_response(
            {
                "special_id": special_id,
                "state": "offline",
                "viewers": 0,
                "hls": await hls_status(request, special_id),
            }
        )
    figures = relay.figures()
    status = {key: figures[key] for key in ("special_id", "state", "viewers", "live_since")}
    return json_response({**status, "hls": await hls_status(request, special_id)})


@routes.get(
    "/api/v1/specials/{special_id}/stream/figures",
    access=Access.HOST,
    summary="Per-stream and per-viewer figures (fps, bitrate, viewers) for the studio",
    tags=("streaming",),
    errors=(401, 403, 404),
)
async def stream_figures(request: web.Request) -> web.Response:
    special_id = _special_id(request)
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
    if not can_run_special(await principal(request), special.host_id):
        raise ApiError(403, "forbidden", "Only this special's host or an operator.")
    relay = request.app[RELAYS_KEY].find(special_id)
    figures: dict[str, Any] = (
        relay.figures() if relay else {"special_id": special_id, "state": "offline"}
    )
    return json_response(figures)


class RelayCollector:
    """Prometheus figures of every live relay, read from ``RelayRegistry.figures()``."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        registry = self._app.get(RELAYS_KEY)
        if registry is None:
            return
        labels = ["special_id"]
        gauges = {
            "publishing": GaugeMetricFamily(
                "livemarket_stream_publishing", "1 while a publisher is connected", labels=labels
            ),
            "viewers": GaugeMetricFamily(
                "livemarket_stream_viewers", "Connected WHEP viewers", labels=labels
            ),
            "fps": GaugeMetricFamily(
                "livemarket_stream_video_fps", "Video frames per second in", labels=labels
            ),
            "bitrate_bps": GaugeMetricFamily(
                "livemarket_stream_video_bitrate_bps", "Video bits per second in", labels=labels
            ),
        }
        counters = {
            "keyframe_requests": CounterMetricFamily(
                "livemarket_stream_keyframe_requests",
                "Keyframe requests sent to the publisher",
                labels=labels,
            ),
            "ingest_losses": CounterMetricFamily(
                "livemarket_stream_ingest_losses",
                "Ingest gaps NACK could not repair (viewers held for a keyframe)",
                labels=labels,
            ),
            "viewer_frames_dropped": CounterMetricFamily(
                "livemarket_stream_viewer_frames_dropped",
                "Frames dropped for slow or joining viewers (connected viewers)",
                labels=labels,
            ),
        }
        failures = CounterMetricFamily(
            "livemarket_stream_negotiation_failures",
            "Publishers and viewers whose ICE/DTLS negotiation failed (reason in the log)",
            labels=["special_id", "role"],
        )
        for special_id, figures in registry.figures().items():
            label = [str(special_id)]
            for role, count in figures["negotiation_failures"].items():
                failures.add_metric([str(special_id), role], count)
            gauges["publishing"].add_metric(label, 1.0 if figures["publishing"] else 0.0)
            gauges["viewers"].add_metric(label, figures["viewers"])
            gauges["fps"].add_metric(label, figures["video"]["fps"])
            gauges["bitrate_bps"].add_metric(label, figures["video"]["bitrate_bps"])
            for name, family in counters.items():
                family.add_metric(label, figures[name])
        yield from gauges.values()
        yield from counters.values()
        yield failures


def _directory(app: web.Application) -> RelayDirectory:
    settings = app[SETTINGS_KEY]
    if REDIS_KEY in app:
        return RedisDirectory(
            app[REDIS_KEY],
            settings.redis_prefix,
            ttl_s=settings.relay_claim_ttl_s,
            lease_s=settings.relay_owner_lease_s,
        )
    return LocalDirectory()


async def _move_strays(registry: RelayRegistry, directory: RelayDirectory) -> None:
    """Hang up local viewers of a special whose relay another instance now holds.

    Their players reconnect and follow the 307 to the owner (see the directory).
    """
    for special_id in list(registry.figures()):
        relay = registry.find(special_id)
        if relay is None or not relay.viewer_count or directory.holds(special_id):
            continue
        if await directory.owner(special_id) is None:
            continue
        for session_id in relay.viewer_sessions:
            with contextlib.suppress(DomainError):
                await relay.end_viewer(session_id)


async def _heartbeat(
    registry: RelayRegistry, directory: RelayDirectory, health: TaskHealth
) -> None:
    """Refresh this instance's claims; Redis down raises and the supervisor retries, and a
    retry refreshes at once (the claims' liveness must not wait a beat more)."""
    while True:
        await directory.refresh()
        await _move_strays(registry, directory)
        health.ok()
        await asyncio.sleep(directory.refresh_interval_s)


async def _relays_ctx(app: web.Application) -> AsyncIterator[None]:
    tasks: set[asyncio.Task[None]] = set()
    directory = _directory(app)
    app[DIRECTORY_KEY] = directory

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def announce(special_id: int, state: str) -> None:
        event = {"type": "stream.status", "special_id": special_id, "state": state}
        spawn(app[BUS_KEY].publish(special_topic(special_id), event))
        for listener in app[STREAM_LISTENERS_KEY]:
            listener(special_id, state)
        if state == RECONNECTING:
            # The host may come back on any instance: free the special for it. (An
            # ended publisher is released by ``whip_end`` itself, before it answers.)
            spawn(directory.release(special_id))

    registry = RelayRegistry.from_settings(app[SETTINGS_KEY], on_state=announce)
    app[RELAYS_KEY] = registry
    heartbeat = supervise(
        "relay-heartbeat",
        lambda health: _heartbeat(registry, directory, health),
        board=app[TASKS_KEY],
        base_s=0.1,
        cap_s=directory.refresh_interval_s,  # never slower than the beat the claims expect
    )
    yield
    await cancel_and_wait([heartbeat])
    await registry.close()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    await directory.close()


def setup(app: web.Application) -> None:
    """Routes for WHIP/WHEP and the stream status; the relay registry's owner."""
    app[STREAM_LISTENERS_KEY] = []
    app.cleanup_ctx.append(_relays_ctx)
    if METRICS_KEY in app:
        app[METRICS_KEY].register(RelayCollector(app))
    app.on_response_prepare.append(_cors_hook(app[CORS_KEY]))
    router = app.router
    router.add_post("/whip/{special_id}", whip_publish)
    router.add_delete("/whip/{special_id}/{session_id}", whip_end)
    router.add_post("/whep/{special_id}", whep_play)
    router.add_delete("/whep/{special_id}/{session_id}", whep_end)
    for endpoint in ("/whip/{special_id}", "/whep/{special_id}"):
        router.add_route("OPTIONS", endpoint, endpoint_options)
        session = endpoint + "/{session_id}"
        router.add_route("PATCH", session, _no_patch)
        router.add_route("OPTIONS", session, session_options)
    routes.install(app)
