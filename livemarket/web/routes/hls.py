"""Low-Latency HLS of live specials, and the replay of ended ones, for any HTTP cache.

``/hls/{special_id}/index.m3u8`` (multivariant), ``live.m3u8`` (LL-HLS media
playlist with blocking reload: ``_HLS_msn``/``_HLS_part``), ``replay.m3u8`` (VOD of
every run once the special has ended), and ``/hls/{special_id}/{run}/init.mp4``,
``{msn}.mp4``, ``{msn}.{part}.mp4``. ``docs/hls.md`` is the contract.

Made for caches in front: media URLs are immutable (a run is one publishing session),
live playlists live a second, every answer has an ETag (304 on If-None-Match) and
``Access-Control-Allow-Origin: *``, and nothing under ``/hls/`` reads or sets a
cookie (the handlers never touch the session, so its middleware stays inert; the
CSRF middleware only looks at unsafe methods, which get a JSON 405 here).

Scale-out: an instance that does not hold the special's relay fetches the same URL
from the owner (the relay directory names it) and passes status, body and caching
headers through, so a cache may ask any instance.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from livemarket.accounts.roles import Access
from livemarket.scheduler.queries import get_special
from livemarket.streamer.hls import playlist, reload
from livemarket.streamer.hls.channel import PART_TARGET_S, HlsChannel, Media, etag_of
from livemarket.streamer.hls.service import DISABLED, NOT_LIVE, HlsService, HlsStatus
from livemarket.streamer.hls.store import MEDIA_PATTERN, RUN_PATTERN, HlsStore
from livemarket.web.api import OPERATIONS_KEY, Operation
from livemarket.web.auth import csrf_exempt
from livemarket.web.errors import ApiError
from livemarket.web.fields import path_id
from livemarket.web.hls_proxy import fetch_from_owner, is_proxied, json_from_owner
from livemarket.web.services import hls as hls_service
from livemarket.web.typedefs import (
    DIRECTORY_KEY,
    HLS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MP4_TYPE = "video/mp4"
IMMUTABLE = "public, max-age=31536000, immutable"
LIVE_CACHE = "public, max-age=1"
#: An answer to a blocking reload names a part that exists: a cache may keep it a bit
#: longer (the next request asks for a later part, so a new key).
BLOCKED_CACHE = "public, max-age=2"
REPLAY_CACHE = "public, max-age=60"
#: "Not live (yet)" may be cached a second, so a crowd waiting for the show is one
#: request a second for the server behind a cache; refusals of bad requests are not kept.
MISSING_CACHE = "public, max-age=1"
NO_STORE = "no-store"
#: The ``hls`` reason when another instance holds the stream and does not answer.
OWNER_UNREACHABLE = "hls_owner_unreachable"
#: The proxy's wait for a blocking reload: the owner holds it up to 3 target durations,
#: and a publisher slow to send the keyframes asked for stretches segments (to ~4 s).
LONGEST_TARGET_S = 4.0

HLS_ROOT_KEY = web.AppKey("hls_root", HlsStore)


class LiveQuery(BaseModel):
    """Blocking playlist reload (LL-HLS): wait until that segment, or part of it, exists."""

    HLS_msn: int | None = Field(None, ge=0, alias="_HLS_msn")
    HLS_part: int | None = Field(None, ge=0, alias="_HLS_part")


# --- answers -----------------------------------------------------------------------------


def _unavailable(reason: str | None) -> ApiError:
    return ApiError(
        404,
        "hls_unavailable",
        "This special has no HLS stream right now.",
        headers={"Cache-Control": MISSING_CACHE},
        reason=reason,
    )


def _not_found() -> ApiError:
    return ApiError(
        404, "hls_not_found", "No such HLS file.", headers={"Cache-Control": MISSING_CACHE}
    )


def _timeout(*, retry_after_s: int) -> ApiError:
    return ApiError(
        503,
        "hls_timeout",
        "That part did not appear in time; reload the playlist.",
        headers={"Retry-After": str(retry_after_s), "Cache-Control": NO_STORE},
    )


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_hls_request", message, headers={"Cache-Control": NO_STORE})


def _matches(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def _answer(
    request: web.Request,
    body: bytes,
    *,
    content_type: str,
    cache: str,
    etag: str,
    modified: float,
) -> web.Response:
    """``body`` with its caching headers, or 304 when the client has it."""
    headers = {
        "Cache-Control": cache,
        "ETag": etag,
        "Last-Modified": formatdate(modified, usegmt=True),
    }
    if _matches(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=content_type, headers=headers)


# --- which instance answers -------------------------------------------------------------


def _special_id(request: web.Request) -> int:
    found = path_id(request.match_info.get("special_id", ""))
    if found is None:
        raise _not_found()
    return found


def _service(request: web.Request) -> HlsService | None:
    return request.app.get(HLS_KEY)


async def _owner_elsewhere(request: web.Request, special_id: int) -> str | None:
    """The owner's base URL when another instance holds this special's live stream."""
    service = _service(request)
    if service is not None and service.channel(special_id) is not None:
        return None
    directory = request.app.get(DIRECTORY_KEY)
    if directory is None or is_proxied(request):
        return None
    return await directory.owner(special_id)


def _routed(
    handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
    held_s: Callable[[web.Request], float] = lambda request: 0.0,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``handler`` here, or the owner's answer when another instance holds the stream."""

    async def route(request: web.Request) -> web.StreamResponse:
        special_id = _special_id(request)
        owner = await _owner_elsewhere(request, special_id)
        if owner is not None:
            return await fetch_from_owner(request, owner, held_s(request))
        return await handler(request, special_id)

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


def _live_channel(request: web.Request, special_id: int) -> HlsChannel:
    service = _service(request)
    if service is None:
        raise _unavailable(DISABLED)
    channel = service.channel(special_id)
    if channel is None or not channel.ready:
        raise _unavailable(service.status(special_id).reason)
    return channel


# --- handlers ------------------------------------------------------------------------------


async def multivariant(request: web.Request, special_id: int) -> web.StreamResponse:
    """The multivariant playlist: one variant (codecs, bandwidth, resolution) → live.m3u8."""
    channel = _live_channel(request, special_id)
    text = playlist.multivariant_playlist(channel.codecs, channel.bandwidth(), channel.resolution)
    body = text.encode()
    return _answer(
        request,
        body,
        content_type=PLAYLIST_TYPE,
        cache=LIVE_CACHE,
        etag=etag_of(body),
        modified=channel.started_at.timestamp(),
    )


def _blocking_target(request: web.Request) -> tuple[int, int | None] | None:
    try:
        query = LiveQuery.model_validate(dict(request.query))
    except ValueError as exc:
        raise _bad_request("_HLS_msn and _HLS_part must be whole numbers from 0.") from exc
    if query.HLS_part is not None and query.HLS_msn is None:
        raise _bad_request("_HLS_part needs _HLS_msn.")
    if query.HLS_msn is None:
        return None
    return query.HLS_msn, query.HLS_part


async def live(request: web.Request, special_id: int) -> web.StreamResponse:
    """The LL-HLS media playlist; with ``_HLS_msn`` (and ``_HLS_part``) a blocking reload."""
    target = _blocking_target(request)
    channel = _live_channel(request, special_id)
    cache = LIVE_CACHE
    if target is not None:
        msn, part = target
        if reload.too_far_ahead(msn, part, channel.next_position):
            next_msn, next_part = channel.next_position
            raise _bad_request(
                f"_HLS_msn={msn}&_HLS_part={part} is too far ahead of the stream "
                f"(next part {next_msn}.{next_part})."
            )
        if not await channel.wait_for(msn, part, reload.playlist_hold_s(channel.target_duration)):
            if channel.ended:
                raise _unavailable(NOT_LIVE)
            raise _timeout(retry_after_s=channel.target_duration)
        cache = BLOCKED_CACHE
    rendered = channel.live_playlist()
    return _answer(
        request,
        rendered.text.encode(),
        content_type=PLAYLIST_TYPE,
        cache=cache,
        etag=rendered.etag,
        modified=rendered.modified,
    )


def _live_held_s(request: web.Request) -> float:
    """How long the owner may hold a live playlist request (a blocking reload's wait)."""
    return (
        reload.playlist_hold_s(math.ceil(LONGEST_TARGET_S)) if "_HLS_msn" in request.query else 0.0
    )


def _part_held_s(request: web.Request) -> float:
    """How long the owner may hold a part request (a part just hinted)."""
    return reload.part_hold_s(PART_TARGET_S)


async def _coming_part(channel: HlsChannel, name: str) -> Media | None:
    """A part not made yet but about to be (the playlist's preload hint names it): held
    until it exists, as LL-HLS players expect; 503 if it does not come in time."""
    found = MEDIA_PATTERN.match(name)
    if found is None or found.group(2) is None:
        return None
    msn, part = int(found.group(1)), int(found.group(2))
    if not reload.coming_part(msn, part, channel.next_position):
        return None
    if not await channel.wait_for(msn, part, reload.part_hold_s(channel.part_target_s)):
        if channel.ended:
            return None
        raise _timeout(retry_after_s=1)
    return channel.media(name)  # None when the segment closed before reaching that part


async def media(request: web.Request, special_id: int) -> web.StreamResponse:
    """An init segment, segment or part: from memory while live, else from disk. The
    part a live playlist's preload hint names (or one a little further) is held until
    it exists."""
    run = request.match_info["run"]
    name = request.match_info["name"]
    if not RUN_PATTERN.match(run) or not MEDIA_PATTERN.match(name):
        raise _not_found()
    service = _service(request)
    channel = service.channel(special_id) if service else None
    if channel is not None and channel.run == run:
        kept = channel.media(name) or await _coming_part(channel, name)
        if kept is not None:
            return _answer(
                request,
                kept.data,
                content_type=MP4_TYPE,
                cache=IMMUTABLE,
                etag=kept.etag,
                modified=kept.modified,
            )
    store = request.app[HLS_ROOT_KEY]
    found = await asyncio.to_thread(store.read_media, special_id, run, name)
    if found is None:
        raise _not_found()
    data, modified = found
    return _answer(
        request, data, content_type=MP4_TYPE, cache=IMMUTABLE, etag=etag_of(data), modified=modified
    )


async def replay(request: web.Request, special_id: int) -> web.StreamResponse:
    """The HLS VOD of the whole show: every kept run, a discontinuity between runs."""
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
    if special.status != "ended":
        raise ApiError(
            404,
            "replay_unavailable",
            "The replay is there once the special has ended.",
            headers={"Cache-Control": MISSING_CACHE},
            reason="not_ended",
        )
    service = _service(request)
    live_channel = service.channel(special_id) if service else None
    live_run = live_channel.run if live_channel else None
    runs = await asyncio.to_thread(request.app[HLS_ROOT_KEY].finished_runs, special_id, live_run)
    if not runs:
        raise ApiError(
            404,
            "replay_unavailable",
            "Nothing of this special was kept.",
            headers={"Cache-Control": MISSING_CACHE},
            reason="nothing_kept",
        )
    text = playlist.replay_playlist([(listing.run, listing.segments) for listing in runs])
    body = text.encode()
    return _answer(
        request,
        body,
        content_type=PLAYLIST_TYPE,
        cache=REPLAY_CACHE,
        etag=etag_of(body),
        modified=max(listing.ended_at for listing in runs).timestamp(),
    )


async def not_found(request: web.Request) -> web.StreamResponse:
    """Anything else under ``/hls/``: JSON, never the HTML page (which would open a session)."""
    if request.method not in ("GET", "HEAD"):
        raise ApiError(
            405,
            "method_not_allowed",
            "HLS is read with GET.",
            headers={"Allow": "GET, HEAD", "Cache-Control": NO_STORE},
        )
    raise _not_found()


async def _allow_any_origin(request: web.Request, response: web.StreamResponse) -> None:
    # A signal, not a middleware: error answers need it too, or players cannot read them.
    if request.path.startswith("/hls/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"


async def hls_status(request: web.Request, special_id: int) -> dict[str, Any]:
    """The ``hls`` field of ``GET /api/v1/specials/{id}/stream``; asked of the owner when
    another instance holds the stream, so any instance tells a page the truth."""
    service = _service(request)
    if service is None:
        return HlsStatus(False, DISABLED).as_dict(special_id)
    status = service.status(special_id)
    if status.reason != NOT_LIVE:
        return status.as_dict(special_id)
    owner = await _owner_elsewhere(request, special_id)
    if owner is None:
        return status.as_dict(special_id)
    found = await json_from_owner(request, f"{owner}/api/v1/specials/{special_id}/stream")
    if found is not None and isinstance(found.get("hls"), dict):
        return dict(found["hls"])
    return HlsStatus(False, OWNER_UNREACHABLE).as_dict(special_id)


def _route(
    path: str,
    handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
    summary: str,
    *,
    content_type: str,
    errors: tuple[int, ...],
    query: type[BaseModel] | None = None,
    held_s: Callable[[web.Request], float] = lambda request: 0.0,
) -> Operation:
    return Operation(
        "GET",
        path,
        _routed(handler, held_s),
        Access.PUBLIC,
        summary,
        query=query,
        tags=("hls",),
        content_type=content_type,
        errors=errors,
        headers=("If-None-Match",),
    )


OPERATIONS = [
    _route(
        "/hls/{special_id}/index.m3u8",
        multivariant,
        "Multivariant HLS playlist of the live special (404 hls_unavailable with a reason)",
        content_type=PLAYLIST_TYPE,
        errors=(404, 503),
    ),
    _route(
        "/hls/{special_id}/live.m3u8",
        live,
        "LL-HLS media playlist; _HLS_msn/_HLS_part make a blocking reload (503 hls_timeout)",
        content_type=PLAYLIST_TYPE,
        errors=(400, 404, 503),
        query=LiveQuery,
        held_s=_live_held_s,
    ),
    _route(
        "/hls/{special_id}/replay.m3u8",
        replay,
        "HLS VOD of every run of an ended special (404 replay_unavailable)",
        content_type=PLAYLIST_TYPE,
        errors=(404, 503),
    ),
    _route(
        "/hls/{special_id}/{run}/{name}",
        media,
        "Init segment (init.mp4), segment ({msn}.mp4) or part ({msn}.{part}.mp4); immutable",
        content_type=MP4_TYPE,
        errors=(404, 503),
        held_s=_part_held_s,
    ),
]


def setup(app: web.Application) -> None:
    """The /hls/ routes; with ``hls`` on, a channel per live H.264 special (needs media's
    relay registry, so this part comes after ``media``)."""
    app[HLS_ROOT_KEY] = HlsStore(app[SETTINGS_KEY].data_dir / "hls")
    # The service; with the composition root (web/services) it is one of PART_SERVICES.
    app.cleanup_ctx.append(hls_service.hls)
    app.on_response_prepare.append(_allow_any_origin)
    operations = app.setdefault(OPERATIONS_KEY, [])
    for operation in OPERATIONS:
        app.router.add_get(operation.path, operation.handler)
        operations.append(operation)
    app.router.add_route("*", "/hls/{tail:.*}", csrf_exempt(not_found))
