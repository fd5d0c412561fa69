"""Specials, read side: ``GET /api/v1/specials`` (filters, ordered by start) and one special."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from aiohttp import web

from livemarket.accounts.roles import Access
from livemarket.scheduler.queries import get_special, list_specials, special_dicts
from livemarket.web.api import ApiRoutes, parse_query, path_int
from livemarket.web.fields import Day, Id
from livemarket.web.pagination import ListQuery, page
from livemarket.web.responses import json_response
from livemarket.web.typedefs import SESSIONS_KEY, SETTINGS_KEY

routes = ApiRoutes()


class SpecialListQuery(ListQuery):
    #: A calendar day in the display time zone (Asia/Seoul), e.g. ``2021-12-18``.
    day: Day | None = None
    status: Literal["scheduled", "live", "ended", "cancelled"] | None = None
    host_id: Id | None = None
    platform_id: Id | None = None


@routes.get(
    "/api/v1/specials",
    access=Access.PUBLIC,
    query=SpecialListQuery,
    tags=("specials",),
    summary="The season's specials, ordered by start",
)
async def specials_index(request: web.Request) -> web.Response:
    query = parse_query(request, SpecialListQuery)
    starts_from = starts_before = None
    if query.day is not None:
        zone = request.app[SETTINGS_KEY].zone
        starts_from = datetime.combine(query.day, time(0), tzinfo=zone)
        starts_before = starts_from + timedelta(days=1)
    async with request.app[SESSIONS_KEY]() as db:
        found = await list_specials(
            db,
            limit=query.limit,
            offset=query.offset,
            status=query.status,
            host_id=query.host_id,
            platform_id=query.platform_id,
            starts_from=starts_from,
            starts_before=starts_before,
        )
        items = await special_dicts(db, found)
    return json_response(page(items, query))


@routes.get(
    "/api/v1/specials/{special_id:\\d+}",
    access=Access.PUBLIC,
    tags=("specials",),
    summary="One special",
    errors=(404,),
)
async def special_item(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
        (item,) = await special_dicts(db, [special])
    return json_response(item, headers={"ETag": f'"{special.version}"'})


def setup(app: web.Application) -> None:
    routes.install(app)
