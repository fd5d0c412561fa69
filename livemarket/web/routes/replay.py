"""Shoppable replay over HTTP: the replay and its chat as JSON, the replay page, the recorder.

``GET /api/v1/specials/{id}/replay`` and ``…/replay/chat`` answer only for an ended special
whose show was kept as HLS (404 ``replay_unavailable`` otherwise); ``/specials/{id}/replay``
plays it beside its markers, its chat and its products.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from livemarket.accounts.roles import Access
from livemarket.replay import service
from livemarket.replay.recordings import (
    Recordings,
    ReplayClocks,
    StoreRecordings,
    playlist_path,
)
from livemarket.replay.timeline import VideoClock
from livemarket.web import templating
from livemarket.web.api import ApiRoutes, parse_query, path_int
from livemarket.web.errors import ApiError
from livemarket.web.fields import path_id
from livemarket.web.pagination import ListQuery, page
from livemarket.web.responses import json_response
from livemarket.web.routes.hls import HLS_ROOT_KEY
from livemarket.web.typedefs import (
    HLS_KEY,
    SESSIONS_KEY,
)

routes = ApiRoutes()
TAGS = ("replay",)

#: The source of replay playlists (tests plug a fake); else hls-serve's store is read.
RECORDINGS_KEY: web.AppKey[Recordings] = web.AppKey("replay_recordings")
_CLOCKS_KEY = web.AppKey("replay_clocks", ReplayClocks)
#: The page's scripts: hls.js where the browser has no HLS of its own, the shop, the replay.
REPLAY_SCRIPTS = ["vendor/hls.light.min.js", "js/shop.js", "js/replay.js"]


def unavailable(special_id: int) -> ApiError:
    return ApiError(
        404,
        "replay_unavailable",
        f"Special {special_id} has no replay: it has not ended, or its show was not kept.",
    )


def _recordings(request: web.Request) -> Recordings | None:
    found = request.app.get(RECORDINGS_KEY)
    if found is None and HLS_ROOT_KEY in request.app:  # hls-serve's store, as its routes read it
        service = request.app.get(HLS_KEY)

        def live_run(special_id: int) -> str | None:
            channel = service.channel(special_id) if service else None
            return channel.run if channel else None

        found = StoreRecordings(request.app[HLS_ROOT_KEY], live_run)
    return found


async def _clock(request: web.Request, special_id: int) -> VideoClock | None:
    source = _recordings(request)
    if source is None:  # HLS is not wired into this app: nothing is ever kept
        return None
    return await request.app[_CLOCKS_KEY].clock(special_id, source)


async def _replay(request: web.Request, special_id: int) -> tuple[service.Show, VideoClock]:
    async with request.app[SESSIONS_KEY]() as db:
        found = await service.show(db, special_id)
    if found is None:
        raise ApiError(404, "special_not_found", "No such special.")
    clock = await _clock(request, special_id) if found.ended else None
    if clock is None:
        raise unavailable(special_id)
    return found, clock


async def replays_among(request: web.Request, special_ids: Collection[int]) -> set[int]:
    """Which of these specials have a replay (for the schedule's and product's links)."""
    async with request.app[SESSIONS_KEY]() as db:
        ended = await service.ended_ids(db, list(special_ids))
    return {sid for sid in ended if await _clock(request, sid) is not None}


@routes.get(
    "/api/v1/specials/{special_id}/replay",
    access=Access.PUBLIC,
    tags=TAGS,
    errors=(404,),
    summary="An ended special's replay: playlist, first-frame time, markers, products now",
)
async def replay(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    found, clock = await _replay(request, special_id)
    async with request.app[SESSIONS_KEY]() as db:
        view = await service.replay_view(db, found, clock, playlist_path(special_id))
    return json_response(view)


@routes.get(
    "/api/v1/specials/{special_id}/replay/chat",
    access=Access.PUBLIC,
    query=ListQuery,
    tags=TAGS,
    errors=(404, 422),
    summary="An ended special's chat in time order, each message with its video offset",
)
async def replay_chat(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    query = parse_query(request, ListQuery)
    _found, clock = await _replay(request, special_id)
    async with request.app[SESSIONS_KEY]() as db:
        lines = await service.chat_page(db, special_id, limit=query.limit, offset=query.offset)
    return json_response(page([service.chat_json(line, clock) for line in lines], query))


async def replay_page(request: web.Request) -> web.Response:
    """``/specials/{id}/replay``: the video, its timeline, its chat, its products now."""
    from livemarket.web.routes.pages import not_found_page

    special_id = path_id(request.match_info["special_id"])
    if special_id is None:
        return await not_found_page(request)
    async with request.app[SESSIONS_KEY]() as db:
        found = await service.show(db, special_id)
    if found is None:
        return await not_found_page(request)
    available = found.ended and await _clock(request, special_id) is not None
    return await templating.render(
        request,
        "replay.html",
        {
            "special": found,
            "available": available,
            "scripts": REPLAY_SCRIPTS if available else [],
            "bootstrap": {"special_id": special_id, "replay_available": available},
        },
        status=200 if available else 404,
    )


def setup(app: web.Application) -> None:
    """Routes, the page and the clocks of kept recordings (the pin recorder is a service:
    ``web/services/replay.py``)."""
    routes.install(app)
    app[_CLOCKS_KEY] = ReplayClocks()
    app.router.add_get(r"/specials/{special_id:\d+}/replay", replay_page, name="replay")
