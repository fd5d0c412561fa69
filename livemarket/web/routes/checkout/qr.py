"""QR codes (PNG or SVG) opening a product's page or a special's watch page."""

from __future__ import annotations

import asyncio

from aiohttp import web

from livemarket.accounts.roles import Access
from livemarket.checkout import catalog, deals, qr
from livemarket.web.api import ApiRoutes, path_int
from livemarket.web.hosts import link_origin
from livemarket.web.routes.checkout.shared import TAGS
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY

routes = ApiRoutes()


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
