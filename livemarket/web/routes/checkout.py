"""Checkout over HTTP: deals, orders, product writes, QR codes, the sales view.

Thin handlers: parse (pydantic), check who may act, call one checkout service,
shape the answer. The services own the rules; ``web/errors.py`` maps their
errors to statuses. ``setup`` also owns the checkout services' lifetime
(ledger, stock pusher, sweeper) and registers the hello-snapshot provider and
the calendar's deal starter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from livemarket.accounts.roles import Access, Principal, Role, can_run_special
from livemarket.checkout import catalog, deals, images, orders, qr, sales
from livemarket.checkout.buyer import validate_buyer
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.ledger_sql import SqlLedger
from livemarket.checkout.pricing import MAX_DURATION_S, MAX_PER_BUYER, MIN_DURATION_S, Deal, iso_utc
from livemarket.checkout.push import StockPusher
from livemarket.checkout.states import CANCELLED, FULFILLED, PAID, RESERVED
from livemarket.checkout.sweeper import run_sweeper
from livemarket.errors import NotFound
from livemarket.scheduler.runner import DealStart
from livemarket.tasks import cancel_and_wait, supervise
from livemarket.web import i18n, templating
from livemarket.web.api import (
    ApiRoutes,
    body_of,
    expected_version,
    path_int,
    versioned_response,
)
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import Body, Id, Line, Prose, path_id
from livemarket.web.hosts import link_origin
from livemarket.web.responses import json_response
from livemarket.web.routes import replay
from livemarket.web.shop_metrics import SHOP_COUNTS_KEY
from livemarket.web.typedefs import (
    ACTIVE_DEALS_KEY,
    BUS_KEY,
    CHECKOUT_KEY,
    CLOCK_KEY,
    DEAL_STARTER_KEY,
    ENGINE_KEY,
    REDIS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

log = logging.getLogger(__name__)
routes = ApiRoutes()
TAGS = ("checkout",)


# --- bodies ----------------------------------------------------------------------------


class DealBody(Body):
    product_id: Id
    #: Checked against the cap in the domain (so 51 gets ``discount_over_cap``, not a 422 here).
    discount_pct: int = Field(ge=-1000, le=1000)
    duration_s: int = Field(ge=MIN_DURATION_S, le=MAX_DURATION_S)
    quantity: int = Field(ge=1, le=1_000_000)
    per_buyer_limit: int = Field(5, ge=1, le=MAX_PER_BUYER)


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


class ProductBody(Body):
    sku: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._\-]+$")
    name: Line = Field(min_length=1, max_length=120)
    name_en: Line = Field("", max_length=120)
    category: catalog.Category
    maker: Line = Field("", max_length=80)
    description: Prose = Field("", max_length=4000)
    price: int = Field(ge=1, le=100_000_000)
    stock: int = Field(0, ge=0, le=10_000_000)


class ProductPatch(Body):
    name: Line | None = Field(None, min_length=1, max_length=120)
    name_en: Line | None = Field(None, max_length=120)
    category: catalog.Category | None = None
    maker: Line | None = Field(None, max_length=80)
    description: Prose | None = Field(None, max_length=4000)
    price: int | None = Field(None, ge=1, le=100_000_000)
    stock: int | None = Field(None, ge=0, le=10_000_000)
    #: Retire the product (true) or bring it back (false).
    archived: bool | None = None
    #: The version the editor saw (alternative to ``If-Match``): stale -> 409.
    version: int | None = Field(None, ge=1, le=2_000_000_000)


# --- helpers ---------------------------------------------------------------------------


def _ctx(request: web.Request) -> CheckoutContext:
    return request.app[CHECKOUT_KEY]


async def _may_run(request: web.Request, special_id: int) -> Principal:
    """The special's host or an operator; 403 for anyone else, 404 for no such special."""
    who = await principal(request)
    async with request.app[ENGINE_KEY].connect() as conn:
        host_id, _status = await deals.special_host(conn, special_id)
    if not can_run_special(who, host_id):
        raise ApiError(403, "forbidden", "Only this special's host or an operator may do this.")
    return who


def deal_view(deal: Deal, now: datetime) -> dict[str, Any]:
    view = deal.started_event()
    view.pop("type")
    view.update(
        id=deal.id,
        sold=deal.sold,
        active=deal.is_active(now),
        ended_at=iso_utc(deal.ended_at) if deal.ended_at else None,
        ended_reason=deal.ended_reason,
    )
    return view


# --- deals -----------------------------------------------------------------------------


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
        _ctx(request),
        special_id=special_id,
        product_id=body.product_id,
        discount_pct=body.discount_pct,
        duration_s=body.duration_s,
        quantity=body.quantity,
        per_buyer_limit=body.per_buyer_limit,
        created_by=who.user_id,
    )
    return json_response(deal_view(deal, _ctx(request).clock()), status=201)


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
    deal = await deals.end_deal(_ctx(request), deal_id, "ended", special_id=special_id)
    return json_response(deal_view(deal, _ctx(request).clock()))


@routes.get(
    "/api/v1/specials/{special_id}/deals",
    access=Access.PUBLIC,
    tags=TAGS,
    summary="The special's deals, newest first, with units sold",
)
async def list_deals(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    found = await deals.deals_of_special(_ctx(request), special_id)
    now = _ctx(request).clock()
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
            "deals": await deals.active_deals(_ctx(request), special_id),
            "server_now": iso_utc(_ctx(request).clock()),
        }
    )


# --- orders ----------------------------------------------------------------------------


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
        _ctx(request),
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
        and await orders.order_buyer(_ctx(request), order_id) != who.viewer_key
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
    return json_response(await orders.get_order(_ctx(request), order_id))


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
    view = await orders.change_status(_ctx(request), order_id, PAID, reference=reference)
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
    return json_response(await orders.change_status(_ctx(request), order_id, FULFILLED))


@routes.post(
    "/api/v1/orders/{order_id}/cancel",
    access=Access.VIEWER,
    tags=TAGS,
    errors=(404, 409),
    summary="Cancel (the buyer while reserved; an operator any time)",
)
async def cancel_order(request: web.Request) -> web.Response:
    order_id, who = await _own_order(request)
    ctx = _ctx(request)
    if who.role is not Role.OPERATOR:
        current = await orders.get_order(ctx, order_id)
        if current["status"] not in (RESERVED, CANCELLED):
            raise ApiError(409, f"order_{current['status']}", "Only an operator can cancel now.")
    return json_response(await orders.change_status(ctx, order_id, CANCELLED))


# --- sales -----------------------------------------------------------------------------


@routes.get(
    "/api/v1/specials/{special_id}/sales",
    access=Access.OPERATOR,
    tags=TAGS,
    summary="Sales totals of a special (units, KRW, deal vs list)",
)
async def sales_summary(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    lines = await sales.sale_lines(request.app[ENGINE_KEY], special_id)
    return json_response({"special_id": special_id, **sales.summarize(lines)})


@routes.get(
    "/api/v1/specials/{special_id}/sales.csv",
    access=Access.OPERATOR,
    tags=TAGS,
    content_type="text/csv",
    summary="A special's order lines as CSV",
)
async def sales_csv(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    lines = await sales.sale_lines(request.app[ENGINE_KEY], special_id)
    return web.Response(
        text=sales.to_csv(lines, request.app[SETTINGS_KEY].zone),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="special-{special_id}-sales.csv"'},
    )


# --- products (write side; the read side is routes/products.py) -----------------------


@routes.post(
    "/api/v1/products",
    access=Access.OPERATOR,
    body=ProductBody,
    tags=("products",),
    status=201,
    errors=(409, 422),
    summary="Add a product to the catalog",
)
async def create_product(request: web.Request) -> web.Response:
    body = body_of(request, ProductBody)
    async with request.app[SESSIONS_KEY]() as db:
        product = await catalog.create_product(db, **body.model_dump())
    return json_response(catalog.product_to_dict(product), status=201)


@routes.patch(
    "/api/v1/products/{product_id}",
    access=Access.OPERATOR,
    body=ProductPatch,
    tags=("products",),
    errors=(404, 409, 412, 422),
    headers=("If-Match",),
    summary="Edit, archive or restore a product (stock included); If-Match or version guards",
)
async def patch_product(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    changes = body_of(request, ProductPatch).model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise ApiError(422, "invalid_field", "Fields cannot be set to null.")
    version, from_header = expected_version(request, changes.pop("version", None))
    stock = changes.pop("stock", None)
    ctx = _ctx(request)
    async with request.app[SESSIONS_KEY]() as db:
        product = await catalog.update_product(
            db, product_id, expected_version=version, from_header=from_header, **changes
        )
    ctx.prices_changed([product_id])
    if stock is not None:
        async with ctx.engine.begin() as conn:
            await ctx.ledger.set_stock(conn, product_id, stock)
        ctx.stock_returned([product_id])
        product.stock = stock
    return versioned_response(catalog.product_to_dict(product))


@routes.put(
    "/api/v1/products/{product_id}/image",
    access=Access.OPERATOR,
    tags=("products",),
    errors=(404, 413, 422),
    summary="Set the product's picture (JPEG, PNG or WebP, at most 2 MB; the body is the file)",
)
async def put_product_image(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    data = await _read_capped(request, images.MAX_IMAGE_BYTES)
    name = images.image_name(product_id, data)
    async with request.app[SESSIONS_KEY]() as db:
        await catalog.get_product(db, product_id)  # 404 before anything is written
        await images.store(request.app[SETTINGS_KEY].data_dir, name, data)
        product = await catalog.set_image(db, product_id, name)
    return versioned_response(catalog.product_to_dict(product))


@routes.delete(
    "/api/v1/products/{product_id}/image",
    access=Access.OPERATOR,
    tags=("products",),
    errors=(404,),
    summary="Remove the product's picture",
)
async def delete_product_image(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    async with request.app[SESSIONS_KEY]() as db:
        product = await catalog.set_image(db, product_id, None)
    return versioned_response(catalog.product_to_dict(product))


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past ``limit`` (never held whole)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "image_too_large", f"A picture may be at most {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "image_too_large", f"A picture may be at most {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def product_image_file(request: web.Request) -> web.StreamResponse:
    """``/media/product-images/{name}``: a stored picture, cacheable for good (its name
    carries its digest)."""
    path = images.path_of(request.app[SETTINGS_KEY].data_dir, request.match_info["name"])
    if path is None or not await asyncio.to_thread(path.is_file):
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": images.CONTENT_TYPES[path.suffix[1:]],
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- QR codes --------------------------------------------------------------------------


async def _qr(request: web.Request, path: str) -> web.Response:
    url = link_origin(request) + path
    if request.match_info["fmt"] == "svg":
        data = await asyncio.to_thread(qr.qr_svg, url)
        content_type = "image/svg+xml"
    else:
        data = await asyncio.to_thread(qr.qr_png, url)
        content_type = "image/png"
    return web.Response(
        body=data, content_type=content_type, headers={"Cache-Control": "public, max-age=3600"}
    )


@routes.get(
    "/api/v1/products/{product_id}/qr.{fmt:png|svg}",
    access=Access.PUBLIC,
    tags=("products",),
    content_type="image/png",
    errors=(404,),
    summary="QR code (PNG or SVG) opening the product's page",
)
async def product_qr(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    async with request.app[SESSIONS_KEY]() as db:
        await catalog.get_product(db, product_id)
    return await _qr(request, qr.product_path(product_id))


@routes.get(
    "/api/v1/specials/{special_id}/qr.{fmt:png|svg}",
    access=Access.PUBLIC,
    tags=TAGS,
    content_type="image/png",
    errors=(404,),
    summary="QR code (PNG or SVG) opening the special's watch page",
)
async def special_qr(request: web.Request) -> web.Response:
    special_id = path_int(request, "special_id")
    async with request.app[ENGINE_KEY].connect() as conn:
        await deals.special_host(conn, special_id)
    return await _qr(request, qr.special_path(special_id))


# --- pages -----------------------------------------------------------------------------


async def _operator_page(request: web.Request) -> None:
    who = await principal(request)
    if who.role is not Role.OPERATOR:
        raise web.HTTPFound("/login?next=" + request.path)


async def qr_sheet(request: web.Request) -> web.Response:
    """``/console/qr``: a printable sheet of every product's and special's QR code."""
    await _operator_page(request)
    kind = request.query.get("kind", "products")
    lang = templating.language(request)
    async with request.app[SESSIONS_KEY]() as db:
        if kind == "specials":
            from livemarket.scheduler.queries import list_specials

            items = [
                {
                    "id": s.id,
                    "title": s.title,
                    "qr": f"/api/v1/specials/{s.id}/qr.svg",
                    "url": link_origin(request) + qr.special_path(s.id),
                }
                for s in await list_specials(db, limit=1000)
            ]
        else:
            items = [
                {
                    "id": p.id,
                    "title": i18n.local_name(lang, p.name, p.name_en),
                    "price": p.price,
                    "qr": f"/api/v1/products/{p.id}/qr.svg",
                    "url": link_origin(request) + qr.product_path(p.id),
                }
                for p in await catalog.list_products(db, limit=1000)
            ]
    return await templating.render(request, "console_qr.html", {"items": items, "kind": kind})


async def sales_page(request: web.Request) -> web.Response:
    """``/console/specials/{id}/sales``: totals, per product, and the CSV link."""
    await _operator_page(request)
    special_id = path_int(request, "special_id")
    lines = await sales.sale_lines(request.app[ENGINE_KEY], special_id)
    return await templating.render(
        request,
        "console_sales.html",
        {"special_id": special_id, "summary": sales.summarize(lines), "lines": lines[-200:]},
    )


async def product_page(request: web.Request) -> web.Response:
    """``/products/{id}`` (what a product's QR code opens): the product and where it is live."""
    from livemarket.web.routes.pages import not_found_page

    product_id = path_id(request.match_info["product_id"])
    if product_id is None:
        return await not_found_page(request)
    async with request.app[SESSIONS_KEY]() as db:
        try:
            product = await catalog.get_product(db, product_id)
        except NotFound:
            return await not_found_page(request)
        specials = await catalog.specials_of_product(db, product.id)
    ended = [s.id for s in specials if s.status == "ended"]
    replays = await replay.replays_among(request, ended)
    return await templating.render(
        request, "product.html", {"product": product, "specials": specials, "replays": replays}
    )


# --- wiring ----------------------------------------------------------------------------


async def _checkout_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    ledger: StockLedger
    if settings.redis_url and REDIS_KEY in app:
        from livemarket.checkout.ledger_redis import RedisLedger

        ledger = RedisLedger(app[REDIS_KEY], settings.redis_prefix + "checkout:", owns_client=False)
    else:
        ledger = SqlLedger()
    pusher = StockPusher(app[BUS_KEY])
    ctx = CheckoutContext(
        engine=app[ENGINE_KEY],
        ledger=ledger,
        bus=app[BUS_KEY],
        clock=lambda: app[CLOCK_KEY](),
        settings=settings,
        pusher=pusher,
    )
    app[CHECKOUT_KEY] = ctx
    try:
        async with asyncio.timeout(5):
            await ctx.warm_up()
    except (OSError, TimeoutError, SQLAlchemyError):  # the first orders connect instead
        log.warning("checkout: could not open database connections at start-up", exc_info=True)
    tasks = [
        supervise("checkout-stock-push", lambda _h: pusher.run(), board=app[TASKS_KEY]),
        supervise("checkout-sweeper", lambda _h: run_sweeper(ctx), board=app[TASKS_KEY]),
    ]
    yield
    await cancel_and_wait(tasks)
    await ctx.close()
    await ledger.close()


def setup(app: web.Application) -> None:
    """Routes, the checkout services' owner, and the providers other parts call."""
    routes.install(app)
    app.router.add_get("/console/qr", qr_sheet)
    app.router.add_get("/console/specials/{special_id}/sales", sales_page)
    app.router.add_get("/products/{product_id}", product_page)
    app.router.add_get("/media/product-images/{name}", product_image_file)
    app.cleanup_ctx.append(_checkout_ctx)

    async def active(special_id: int) -> list[dict[str, Any]]:
        return await deals.active_deals(app[CHECKOUT_KEY], special_id)

    async def start_planned(start: DealStart) -> int | None:
        ctx = app[CHECKOUT_KEY]
        left = int((start.ends_at - ctx.clock().astimezone(UTC)).total_seconds())
        if left < MIN_DURATION_S:
            return None  # caught up too late: the planned window is (almost) over
        deal = await deals.start_deal(
            ctx,
            special_id=start.special_id,
            product_id=start.product_id,
            discount_pct=start.discount_pct,
            duration_s=min(left, MAX_DURATION_S),
            quantity=start.quantity,
            per_buyer_limit=start.per_buyer_limit,
        )
        return deal.id

    app[ACTIVE_DEALS_KEY] = active
    app[DEAL_STARTER_KEY] = start_planned
