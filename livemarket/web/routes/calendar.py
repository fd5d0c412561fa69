"""The calendar's write API, studio go-live/end, reminders, and the ``.ics`` exports.

Thin handlers: parse (pydantic), call :class:`CalendarService`, return the
contract shape. Role checks come from the ``ApiRoutes`` declarations; domain
errors become HTTP errors in the error middleware. The calendar service and the
runner that turns the calendar into timed jobs are built in ``web/services/calendar.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from livemarket.accounts.roles import Access, Role
from livemarket.accounts.throttle import SlidingWindow
from livemarket.scheduler.calendar import PlannedDealDraft, SpecialDraft
from livemarket.scheduler.ics import MEDIA_TYPE, CalendarEntry, build_calendar
from livemarket.scheduler.models import Special
from livemarket.scheduler.queries import get_special, list_specials
from livemarket.scheduler.service import Actor, CalendarService
from livemarket.web.api import (
    ApiRoutes,
    body_of,
    expected_version,
    path_int,
    versioned_response,
)
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import EARLIEST, LATEST, Body, Id, Instant, Line, Prose
from livemarket.web.hosts import link_origin
from livemarket.web.responses import json_response
from livemarket.web.throttling import refuse_if_throttled
from livemarket.web.typedefs import (
    CALENDAR_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)

routes = ApiRoutes()
#: Reminder changes per viewer and per address: plenty for a person ticking a season's
#: specials, a wall for a script filling the reminders table from fresh sessions.
REMINDER_THROTTLE_KEY = web.AppKey("reminder_throttle", SlidingWindow)
SEASON_LIMIT = 1000
#: Every event's ``UID`` domain: fixed, so a calendar sees the same event whatever host
#: name the file was fetched by (and no request can choose it).
UID_DOMAIN = "livemarket"
_BIG = 10**9  # keeps integers inside the database's INTEGER range


class PlannedDealIn(Body):
    product_id: Id
    offset_s: int = Field(ge=-_BIG, le=_BIG)
    discount_pct: int = Field(ge=-_BIG, le=_BIG)
    duration_s: int = Field(ge=-_BIG, le=_BIG)
    quantity: int = Field(ge=-_BIG, le=_BIG)
    per_buyer_limit: int = Field(5, ge=-_BIG, le=_BIG)

    def draft(self) -> PlannedDealDraft:
        return PlannedDealDraft(**self.model_dump())


class SpecialIn(Body):
    """A new special. Length and content rules are the domain's (each with its own code)."""

    title: Line = Field(max_length=1000)
    description: Prose = Field("", max_length=20000)
    starts_at: Instant
    ends_at: Instant
    host_id: Id
    platform_id: Id | None = None
    channel: Line = Field("studio-1", max_length=100)
    product_ids: list[Id] = Field(default_factory=list, max_length=1000)
    deals: list[PlannedDealIn] = Field(default_factory=list, max_length=1000)


class SpecialPatch(Body):
    """A partial edit: only the fields present change; ``status`` may only be ``cancelled``."""

    title: Line | None = Field(None, max_length=1000)
    description: Prose | None = Field(None, max_length=20000)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    host_id: Id | None = None
    platform_id: Id | None = None
    channel: Line | None = Field(None, max_length=100)
    product_ids: list[Id] | None = Field(None, max_length=1000)
    deals: list[PlannedDealIn] | None = Field(None, max_length=1000)
    status: Literal["cancelled"] | None = None
    #: The version the editor saw (alternative to ``If-Match``): stale -> 409.
    version: int | None = Field(None, ge=1, le=_BIG)


def _service(request: web.Request) -> CalendarService:
    return request.app[CALENDAR_KEY]


@routes.post(
    "/api/v1/specials",
    access=Access.OPERATOR,
    body=SpecialIn,
    status=201,
    tags=("specials",),
    errors=(401, 403, 409, 422),
    summary="Add a special to the calendar (operators)",
)
async def create_special(request: web.Request) -> web.Response:
    body = body_of(request, SpecialIn)
    draft = SpecialDraft(
        title=body.title,
        description=body.description,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        host_id=body.host_id,
        platform_id=body.platform_id,
        channel=body.channel,
        product_ids=tuple(body.product_ids),
        deals=tuple(d.draft() for d in body.deals),
    )
    item = await _service(request).create(draft)
    response = versioned_response(item, 201)
    response.headers["Location"] = f"/api/v1/specials/{item['id']}"
    return response


_NOT_NULL = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "host_id",
    "channel",
    "product_ids",
    "deals",
)


@routes.patch(
    "/api/v1/specials/{special_id:\\d+}",
    access=Access.OPERATOR,
    body=SpecialPatch,
    tags=("specials",),
    errors=(401, 403, 404, 409, 412, 422),
    headers=("If-Match",),
    summary="Edit, move or cancel a special (operators); If-Match or version guards",
)
async def patch_special(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    body = body_of(request, SpecialPatch)
    version, from_header = expected_version(request, body.version)
    fields = body.model_fields_set - {"version"}
    for name in fields & set(_NOT_NULL):
        if getattr(body, name) is None:
            raise ApiError(422, "invalid_field", f"{name}: may not be null", field=name)
    service = _service(request)
    if "status" in fields:
        if body.status is None or fields != {"status"}:
            raise ApiError(
                422,
                "cancel_alone",
                'send {"status": "cancelled"} on its own to cancel',
                field="status",
            )
        return versioned_response(
            await service.cancel(special_id, version, from_header=from_header)
        )
    changes: dict[str, Any] = {name: getattr(body, name) for name in fields}
    if "product_ids" in changes:
        changes["product_ids"] = tuple(changes["product_ids"])
    if "deals" in changes:
        changes["deals"] = tuple(d.draft() for d in body.deals or ())
    item = await service.update(special_id, changes, version, from_header=from_header)
    return versioned_response(item)


@routes.delete(
    "/api/v1/specials/{special_id:\\d+}",
    access=Access.OPERATOR,
    status=204,
    tags=("specials",),
    errors=(401, 403, 404, 409, 412),
    headers=("If-Match",),
    summary="Delete a special that never went on air (operators)",
)
async def delete_special(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    version, from_header = expected_version(request, None)
    await _service(request).delete(special_id, version, from_header=from_header)
    return web.Response(status=204)


async def _actor(request: web.Request) -> Actor:
    who = await principal(request)
    assert who.user_id is not None  # Access.HOST guarantees a logged-in user
    return Actor(user_id=who.user_id, is_operator=who.role is Role.OPERATOR)


@routes.post(
    "/api/v1/specials/{special_id:\\d+}/go-live",
    access=Access.HOST,
    tags=("studio",),
    errors=(401, 403, 404, 409),
    summary="The special's host goes live now (up to 15 minutes early)",
)
async def go_live(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    return versioned_response(await _service(request).go_live(special_id, await _actor(request)))


@routes.post(
    "/api/v1/specials/{special_id:\\d+}/end",
    access=Access.HOST,
    tags=("studio",),
    errors=(401, 403, 404, 409),
    summary="The special's host ends the live show now",
)
async def end(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    return versioned_response(await _service(request).end(special_id, await _actor(request)))


@routes.post(
    "/api/v1/specials/{special_id:\\d+}/reminders",
    access=Access.VIEWER,
    tags=("specials",),
    errors=(401, 404, 409, 429),
    summary="Remind me over the realtime socket ten minutes before the start",
)
async def remind_me(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    who = await principal(request)
    _count_reminder_change(request, who.viewer_key)
    await _service(request).remind(special_id, who.viewer_key)
    return json_response({"special_id": special_id, "reminder": True})


@routes.delete(
    "/api/v1/specials/{special_id:\\d+}/reminders",
    access=Access.VIEWER,
    tags=("specials",),
    errors=(401, 404, 429),
    summary="Stop the reminder for this special",
)
async def forget_me(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    who = await principal(request)
    _count_reminder_change(request, who.viewer_key)
    await _service(request).remind(special_id, who.viewer_key, on=False)
    return json_response({"special_id": special_id, "reminder": False})


def _count_reminder_change(request: web.Request, viewer_key: str) -> None:
    """Refuse with 429 past the limit, else count this change against viewer and address."""
    throttle = request.app[REMINDER_THROTTLE_KEY]
    keys = (f"viewer:{viewer_key}", f"addr:{request.remote}")
    now = time.monotonic()
    refuse_if_throttled(
        throttle, keys, now, "too_many_reminders", "Too many reminder changes; try again shortly."
    )
    for key in keys:
        throttle.record(key, now)


def _entry(special: Special, base: str) -> CalendarEntry:
    return CalendarEntry(
        id=special.id,
        title=special.title,
        description=special.description,
        starts_at=special.starts_at,
        ends_at=special.ends_at,
        status=special.status,
        version=special.version,
        updated_at=special.updated_at,
        url=f"{base}/specials/{special.id}",
    )


def _ics_response(
    request: web.Request, specials: list[Special], filename: str, name: str
) -> web.Response:
    base = link_origin(request)
    body = build_calendar(
        # A row saved before times were bounded (year 9999) cannot be shown in the zone.
        [_entry(s, base) for s in specials if s.starts_at >= EARLIEST and s.ends_at <= LATEST],
        zone=request.app[SETTINGS_KEY].zone,
        domain=UID_DOMAIN,
        name=name,
        now=datetime.now(UTC),
    )
    return web.Response(
        body=body,
        content_type=MEDIA_TYPE,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-cache",
        },
    )


@routes.get(
    "/api/v1/specials.ics",
    access=Access.PUBLIC,
    content_type=MEDIA_TYPE,
    tags=("specials",),
    summary="The whole season as an iCalendar file (RFC 5545)",
)
async def season_ics(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        specials = await list_specials(db, limit=SEASON_LIMIT)
    return _ics_response(request, specials[:SEASON_LIMIT], "livemarket.ics", "LiveMarket")


@routes.get(
    "/api/v1/specials/{special_id:\\d+}.ics",
    access=Access.PUBLIC,
    content_type=MEDIA_TYPE,
    tags=("specials",),
    errors=(404,),
    summary="One special as an iCalendar file, to add to a calendar",
)
async def special_ics(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    async with request.app[SESSIONS_KEY]() as db:
        special = await get_special(db, special_id)
    return _ics_response(request, [special], f"special-{special_id}.ics", special.title)


def setup(app: web.Application) -> None:
    app[REMINDER_THROTTLE_KEY] = SlidingWindow(max_events=30, window_s=60.0, max_keys=50_000)
    routes.install(app)
