"""Flash deals over HTTP: start and end one, list a special's deals, its line-up.

Deal writes need the special's host or an operator (``_may_run``); the rules and
the deal's window are the checkout domain's (``checkout/deals.py``, ``pricing.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from livemarket.accounts.roles import Access, Principal, can_run_special
from livemarket.checkout import catalog, deals
from livemarket.checkout.pricing import MAX_DURATION_S, MAX_PER_BUYER, MIN_DURATION_S, Deal, iso_utc
from livemarket.web.api import ApiRoutes, body_of, path_int
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import Body, Id
from livemarket.web.responses import json_response
from livemarket.web.routes.checkout.shared import TAGS, checkout_of
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY

routes = ApiRoutes()


class DealBody(Body):
    product_id: Id
    #: Checked against the cap in the domain (so 51 gets ``discount_over_cap``, not a 422 here).
    discount_pct: int = Field(ge=-1000, le=1000)
    duration_s: int = Field(ge=MIN_DURATION_S, le=MAX_DURATION_S)
    quantity: int = Field(ge=1, le=1_000_000)
    per_buyer_limit: int = Field(5, ge=1, le=MAX_PER_BUYER)


async def _may_run(request: web.Request, special_id: int) -> Principal:
    """The special's host or an operator; 403 for anyone else, 404 for no such special."""
    who = await principal(request)
    async with request.app[ENGINE_KEY].connect() as conn:
        host_id, _status = await deals.special_host(conn, special_id)
    if not can_run_special(who, host_id):
        raise ApiError(403, "forbidden", "Only this special's host or an operator may do this.")
    return who


def deal_view(deal: Deal, now: datetime) -> dict[str, Any]:
    view: dict[str, Any] = dict(deal.started_event())
    view.pop("type")
    view.update(
        id=deal.id,
        sold=deal.sold,
        active=deal.is_active(now),
        ended_at=iso_utc(deal.ended_at) if deal.ended_at else None,
        ended_reason=deal.ended_reason,
    )
    return view


# Deal routes need a host or operator (a viewer gets 403 from the declaration) and are
# checked per special in ``_may_run`` (another special's host gets 403 too).
@routes.post(
    "/api/v1/specials/{special_id}/deals",
    access=Access.HOST,
    body=DealBody,
    tags=TAGS,
    status=201,
    errors=(403, 404, 409, 422),
    summary="Start a flash deal now (the special's host or an operator)",
)
async def start_deal(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    who = await _may_run(request, special_id)
    body = body_of(request, DealBody)
    deal = await deals.start_deal(
        checkout_of(request),
        special_id=special_id,
        product_id=body.product_id,
        discount_pct=body.discount_pct,
        duration_s=body.duration_s,
        quantity=body.quantity,
        per_buyer_limit=body.per_buyer_limit,
        created_by=who.user_id,
    )
    return json_response(deal_view(deal, checkout_of(request).clock()), status=201)


@routes.delete(
    "/api/v1/specials/{special_id}/deals/{deal_id}",
    access=Access.HOST,
    tags=TAGS,
    errors=(403, 404),
    summary="End a flash deal early (idempotent)",
)
async def end_deal(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    deal_id = path_int(request, "deal_id")
    await _may_run(request, special_id)
    deal = await deals.end_deal(checkout_of(request), deal_id, "ended", special_id=special_id)
    return json_response(deal_view(deal, checkout_of(request).clock()))


@routes.get(
    "/api/v1/specials/{special_id}/deals",
    access=Access.PUBLIC,
    tags=TAGS,
    summary="The special's deals, newest first, with units sold",
)
async def list_deals(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    found = await deals.deals_of_special(checkout_of(request), special_id)
    now = checkout_of(request).clock()
    return json_response({"items": [deal_view(d, now) for d in found], "next": None})


@routes.get(
    "/api/v1/specials/{special_id}/lineup",
    access=Access.PUBLIC,
    tags=TAGS,
    errors=(404,),
    summary="The special's products (presentation order), pinned product and active deals",
)
async def special_lineup(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    async with request.app[SESSIONS_KEY]() as db:
        found, pinned = await catalog.lineup(db, special_id)
    return json_response(
        {
            "items": [catalog.product_to_dict(p) for p in found],
            "next": None,
            "pinned_product_id": pinned,
            "deals": await deals.active_deals(checkout_of(request), special_id),
            "server_now": iso_utc(checkout_of(request).clock()),
        }
    )
