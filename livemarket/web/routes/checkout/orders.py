"""Orders over HTTP: place one (idempotent), read it, pay, fulfil, cancel.

A buyer sees and cancels only their own orders (anyone else's is a 404, no leak);
operators see all and move them through paid and fulfilled.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, Field

from livemarket.accounts.roles import Access, Principal, Role
from livemarket.checkout import orders
from livemarket.checkout.buyer import validate_buyer
from livemarket.checkout.states import CANCELLED, FULFILLED, PAID, RESERVED
from livemarket.web.api import ApiRoutes, body_of, path_int
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import Body, Id, Line
from livemarket.web.responses import json_response
from livemarket.web.routes.checkout.shared import TAGS, checkout_of
from livemarket.web.shop_metrics import SHOP_COUNTS_KEY

routes = ApiRoutes()


class ItemBody(Body):
    # Extra fields (a forged ``price``, ``unit_price`` …) are ignored: the server prices.
    model_config = ConfigDict(extra="ignore")

    product_id: Id
    quantity: int = Field(ge=1, le=orders.MAX_QUANTITY)


class BuyerBody(Body):
    model_config = ConfigDict(extra="ignore")

    name: Line = Field(max_length=100)
    phone: Line = Field(max_length=30)
    address: Line = Field(max_length=400)


class OrderBody(Body):
    model_config = ConfigDict(extra="ignore")

    items: list[ItemBody] = Field(min_length=1, max_length=orders.MAX_LINES)
    buyer: BuyerBody
    special_id: Id | None = None
    payment_method: Line = Field("bank_transfer", max_length=30)


class PaidBody(Body):
    reference: Line = Field("", max_length=100)


@routes.post(
    "/api/v1/orders",
    access=Access.VIEWER,
    body=OrderBody,
    tags=TAGS,
    status=201,
    errors=(404, 409, 422),
    headers=("Idempotency-Key",),
    summary="Reserve an order at the server's prices (a retried key returns it again)",
)
async def create_order(request: web.Request) -> web.Response:
    who = await principal(request)
    key = orders.check_idempotency_key(request.headers.get("Idempotency-Key"))
    body = body_of(request, OrderBody)
    buyer = validate_buyer(body.buyer.name, body.buyer.phone, body.buyer.address)
    placed = await orders.place_order(
        checkout_of(request),
        buyer_key=who.viewer_key,
        idempotency_key=key,
        items=[orders.OrderItem(i.product_id, i.quantity) for i in body.items],
        buyer=buyer,
        special_id=body.special_id,
        payment_method=body.payment_method,
    )
    request.app[SHOP_COUNTS_KEY].order_placed(placed.created, int(placed.order["total"]))
    return json_response(placed.order, status=201 if placed.created else 200)


async def _own_order(request: web.Request) -> tuple[int, Principal]:
    """The order id if the asker bought it or is an operator; 404 otherwise (no leak)."""
    order_id = path_int(request, "order_id")
    who = await principal(request)
    if (
        who.role is not Role.OPERATOR
        and await orders.order_buyer(checkout_of(request), order_id) != who.viewer_key
    ):
        raise ApiError(404, "order_not_found", f"No order {order_id}.")
    return order_id, who


@routes.get(
    "/api/v1/orders/{order_id}",
    access=Access.VIEWER,
    tags=TAGS,
    errors=(404,),
    summary="One order (its buyer or an operator)",
)
async def get_order(request: web.Request) -> web.Response:
    order_id, _who = await _own_order(request)
    return json_response(await orders.get_order(checkout_of(request), order_id))


@routes.post(
    "/api/v1/orders/{order_id}/paid",
    access=Access.OPERATOR,
    body=PaidBody,
    tags=TAGS,
    errors=(404, 409),
    summary="Confirm payment (idempotent)",
)
async def mark_paid(request: web.Request) -> web.Response:
    order_id = path_int(request, "order_id")
    reference = body_of(request, PaidBody).reference
    view = await orders.change_status(checkout_of(request), order_id, PAID, reference=reference)
    return json_response(view)


@routes.post(
    "/api/v1/orders/{order_id}/fulfil",
    access=Access.OPERATOR,
    tags=TAGS,
    errors=(404, 409),
    summary="Mark a paid order shipped",
)
async def mark_fulfilled(request: web.Request) -> web.Response:
    order_id = path_int(request, "order_id")
    return json_response(await orders.change_status(checkout_of(request), order_id, FULFILLED))


@routes.post(
    "/api/v1/orders/{order_id}/cancel",
    access=Access.VIEWER,
    tags=TAGS,
    errors=(404, 409),
    summary="Cancel (the buyer while reserved; an operator any time)",
)
async def cancel_order(request: web.Request) -> web.Response:
    order_id, who = await _own_order(request)
    ctx = checkout_of(request)
    if who.role is not Role.OPERATOR:
        current = await orders.get_order(ctx, order_id)
        if current["status"] not in (RESERVED, CANCELLED):
            raise ApiError(409, f"order_{current['status']}", "Only an operator can cancel now.")
    return json_response(await orders.change_status(ctx, order_id, CANCELLED))
