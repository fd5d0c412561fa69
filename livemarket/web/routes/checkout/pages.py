"""The checkout's pages: the product page a QR code opens, and two console pages for
operators (the printable QR sheet, a special's sales)."""

from __future__ import annotations

from aiohttp import web

from livemarket.accounts.roles import Role
from livemarket.checkout import catalog, qr, sales
from livemarket.errors import NotFound
from livemarket.web import i18n, templating
from livemarket.web.api import path_int
from livemarket.web.auth import principal
from livemarket.web.fields import path_id
from livemarket.web.hosts import link_origin
from livemarket.web.routes import replay
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY


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


def setup(app: web.Application) -> None:
    app.router.add_get("/console/qr", qr_sheet)
    app.router.add_get("/console/specials/{special_id}/sales", sales_page)
    app.router.add_get("/products/{product_id}", product_page)
