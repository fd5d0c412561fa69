"""Partner platforms over HTTP: anyone reads them, operators add and edit them."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, HttpUrl

from livemarket.accounts.roles import Access
from livemarket.scheduler import platforms
from livemarket.web.api import ApiRoutes, body_of, path_int
from livemarket.web.fields import Body, Line
from livemarket.web.responses import json_response
from livemarket.web.typedefs import SESSIONS_KEY

routes = ApiRoutes()
TAGS = ("platforms",)


class PlatformBody(Body):
    slug: str = Field(pattern=platforms.SLUG.pattern)
    name: Line = Field(min_length=1, max_length=80)
    name_ko: Line = Field(min_length=1, max_length=80)
    url: HttpUrl | None = Field(None, strict=False)


class PlatformPatch(Body):
    slug: str | None = Field(None, pattern=platforms.SLUG.pattern)
    name: Line | None = Field(None, min_length=1, max_length=80)
    name_ko: Line | None = Field(None, min_length=1, max_length=80)
    url: HttpUrl | None = Field(None, strict=False)


def _fields(body: BaseModel) -> dict[str, str]:
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in values:
        values["url"] = str(values["url"])[:200]
    return values


@routes.get("/api/v1/platforms", access=Access.PUBLIC, tags=TAGS, summary="Partner platforms")
async def platforms_index(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        found = await platforms.list_platforms(db)
    return json_response({"items": [platforms.platform_to_dict(p) for p in found], "next": None})


@routes.post(
    "/api/v1/platforms",
    access=Access.OPERATOR,
    body=PlatformBody,
    tags=TAGS,
    status=201,
    errors=(409, 422),
    summary="Add a partner platform",
)
async def create_platform(request: web.Request) -> web.Response:
    body = body_of(request, PlatformBody)
    async with request.app[SESSIONS_KEY]() as db:
        platform = await platforms.create_platform(db, **_fields(body))
    return json_response(platforms.platform_to_dict(platform), status=201)


@routes.patch(
    "/api/v1/platforms/{platform_id}",
    access=Access.OPERATOR,
    body=PlatformPatch,
    tags=TAGS,
    errors=(404, 409, 422),
    summary="Edit a partner platform",
)
async def patch_platform(request: web.Request) -> web.Response:
    platform_id = path_int(request, "platform_id")
    body = body_of(request, PlatformPatch)
    async with request.app[SESSIONS_KEY]() as db:
        platform = await platforms.update_platform(db, platform_id, **_fields(body))
    return json_response(platforms.platform_to_dict(platform))


def setup(app: web.Application) -> None:
    routes.install(app)
