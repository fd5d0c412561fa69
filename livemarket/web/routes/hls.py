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
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, Field

from livemarket.accounts.roles import Access
from livemarket.scheduler.queries import get_special
from livemarket.streamer.hls import playlist
from livemarket.streamer.hls.channel import HlsChannel, Media, etag_of
from livemarket.streamer.hls.service import DISABLED, HlsService, HlsStatus
from livemarket.streamer.hls.store import MEDIA_PATTERN, RUN_PATTERN, HlsStore
from livemarket.web.api import OPERATIONS_KEY, Operation
from livemarket.web.auth import csrf_exempt
from livemarket.web.errors import ApiError
from livemarket.web.fields import path_id
from livemarket.web.typedefs import (
    DIRECTORY_KEY,
    HLS_KEY,
    RELAYS_KEY,
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
#: How far ahead of the next part a blocking reload may ask (RFC 8216bis §6.2.5.2:
#: two segments; parts: the Advance Part Limit, 3 when PART-TARGET is under 1 s).
MSN_AHEAD = 2
PART_AHEAD = 3
#: A blocking reload waits this many target durations, then answers 503 (§6.2.5.2); a
#: request for the hinted part, this many part targets (at least ``MIN_HINT_HOLD_S``).
HOLD_TARGETS = 3
MIN_HINT_HOLD_S = 1.0
#: Marks a request one instance makes of another: it is answered locally, never proxied
#: again (no loops while the directory changes its mind).
PROXY_HEADER = "X-LiveMarket-Hls-Proxy"
#: A non-blocking fetch from the owner gives up after this long.
PROXY_TIMEOUT_S = 3.0
#: The longest target duration a run is expected to reach (a publisher slow to send the
#: keyframes asked for stretches segments), for the proxy's wait on a blocking reload.
LONGEST_TARGET_S = 4.0
#: Answer headers passed through from the owner.
PASSED_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Retry-After")

HLS_PROXY_KEY = web.AppKey("hls_proxy", aiohttp.ClientSession)
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
    if PROXY_HEADER in request.headers:
        return None
    directory = request.app.get(DIRECTORY_KEY)
    if directory is None:
        return None
    return await directory.owner(special_id)


async def _proxy(request: web.Request, owner: str, timeout_s: float) -> web.Response:
    """The owner's answer to the same request: status, body and caching headers."""
    headers = {PROXY_HEADER: "1"}
    if "If-None-Match" in request.headers:
        headers["If-None-Match"] = request.headers["If-None-Match"]
    try:
        async with request.app[HLS_PROXY_KEY].get(
            owner + str(request.rel_url),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as upstream:
            body = await upstream.read()
            passed = {
                name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers
            }
            status = upstream.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(
            503,
            "hls_owner_unreachable",
            "The server holding this stream did not answer; try again.",
            headers={"Retry-After": "1", "Cache-Control": NO_STORE},
        ) from exc
    if status == 304:
        return web.Response(status=304, headers=passed)
    return web.Response(status=status, body=body, headers=passed)


def _routed(
    handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
    timeout_s: Callable[[web.Request], float] = lambda request: PROXY_TIMEOUT_S,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``handler`` here, or the owner's answer when another instance holds the stream."""

    async def route(request: web.Request) -> web.StreamResponse:
        special_id = _special_id(request)
        owner = await _owner_elsewhere(request, special_id)
        if owner is not None:
            return await _proxy(request, owner, timeout_s(request))
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


def _hold_s(channel: HlsChannel) -> float:
    return float(HOLD_TARGETS * channel.target_duration)


async def live(request: web.Request, special_id: int) -> web.StreamResponse:
    """The LL-HLS media playlist; with ``_HLS_msn`` (and ``_HLS_part``) a blocking reload."""
    target = _blocking_target(request)
    channel = _live_channel(request, special_id)
    cache = LIVE_CACHE
    if target is not None:
        msn, part = target
        next_msn, next_part = channel.next_position
        if msn > next_msn + MSN_AHEAD or (
            part is not None and msn == next_msn and part > next_part + PART_AHEAD
        ):
            raise _bad_request(
                f"_HLS_msn={msn}&_HLS_part={part} is too far ahead of the stream "
                f"(next part {next_msn}.{next_part})."
            )
        hold_s = _hold_s(channel)
        if not await channel.wait_for(msn, part, hold_s):
            if channel.ended:
                raise _unavailable(_service(request).status(special_id).reason)  # type: ignore[union-attr]
            raise ApiError(
                503,
                "hls_timeout",
                "That part did not appear in time; reload the playlist.",
                headers={
                    "Retry-After": str(math.ceil(channel.target_duration)),
                    "Cache-Control": NO_STORE,
                },
            )
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


def _proxy_live_timeout(request: web.Request) -> float:
    """The owner holds a blocking reload up to 3 target durations: wait past that."""
    if "_HLS_msn" in request.query:
        return HOLD_TARGETS * LONGEST_TARGET_S + PROXY_TIMEOUT_S
    return PROXY_TIMEOUT_S


def _hint_hold_s(channel: HlsChannel) -> float:
    return max(HOLD_TARGETS * channel.part_target_s, MIN_HINT_HOLD_S)


async def _coming_part(channel: HlsChannel, name: str) -> Media | None:
    """A part not made yet but about to be (the playlist's preload hint names it): held
    until it exists, as LL-HLS players expect; 503 if it does not come in time."""
    found = MEDIA_PATTERN.match(name)
    if found is None or found.group(2) is None:
        return None
    msn, part = int(found.group(1)), int(found.group(2))
    next_msn, next_part = channel.next_position
    coming = (msn == next_msn and next_part <= part <= next_part + PART_AHEAD) or (
        msn == next_msn + 1 and part <= PART_AHEAD
    )
    if not coming:
        return None
    if not await channel.wait_for(msn, part, _hint_hold_s(channel)):
        if channel.ended:
            return None
        raise ApiError(
            503,
            "hls_timeout",
            "That part did not appear in time; reload the playlist.",
            headers={"Retry-After": "1", "Cache-Control": NO_STORE},
        )
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
    runs = await asyncio.to_thread(request.app[HLS_ROOT_KEY].finished_runs, special_id)
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


def hls_status(app: web.Application, special_id: int) -> dict[str, Any]:
    """The ``hls`` field of ``GET /api/v1/specials/{id}/stream``."""
    service = app.get(HLS_KEY)
    status = service.status(special_id) if service else HlsStatus(False, DISABLED)
    return status.as_dict(special_id)


async def _hls_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    app[HLS_PROXY_KEY] = aiohttp.ClientSession(auto_decompress=False)
    service = None
    if settings.hls:
        service = HlsService(app[HLS_ROOT_KEY].root)
        app[HLS_KEY] = service
        app[RELAYS_KEY].session_sinks.append(service.session_sink)
    yield
    if service is not None:
        sinks = app[RELAYS_KEY].session_sinks
        if service.session_sink in sinks:
            sinks.remove(service.session_sink)
        await service.close()
    await app[HLS_PROXY_KEY].close()


def _route(
    path: str,
    handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
    summary: str,
    *,
    content_type: str,
    errors: tuple[int, ...],
    query: type[BaseModel] | None = None,
    timeout_s: Callable[[web.Request], float] = lambda request: PROXY_TIMEOUT_S,
) -> Operation:
    return Operation(
        "GET",
        path,
        _routed(handler, timeout_s),
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
        timeout_s=_proxy_live_timeout,
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
    ),
]


def setup(app: web.Application) -> None:
    """The /hls/ routes; with ``hls`` on, a channel per live H.264 special (needs media's
    relay registry, so this part comes after ``media``)."""
    app[HLS_ROOT_KEY] = HlsStore(app[SETTINGS_KEY].data_dir / "hls")
    app.cleanup_ctx.append(_hls_ctx)
    app.on_response_prepare.append(_allow_any_origin)
    operations = app.setdefault(OPERATIONS_KEY, [])
    for operation in OPERATIONS:
        app.router.add_get(operation.path, operation.handler)
        operations.append(operation)
    app.router.add_route("*", "/hls/{tail:.*}", csrf_exempt(not_found))
