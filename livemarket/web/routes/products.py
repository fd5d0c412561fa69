"""Products, read side: ``GET /api/v1/products`` and ``GET /api/v1/products/{id}``."""

from __future__ import annotations

from aiohttp import web

from livemarket.accounts.roles import Access
from livemarket.checkout.catalog import Category, get_product, list_products, product_to_dict
from livemarket.web.api import ApiRoutes, parse_query, path_int
from livemarket.web.pagination import ListQuery, page
from livemarket.web.responses import json_response
from livemarket.web.typedefs import SESSIONS_KEY

routes = ApiRoutes()


class ProductListQuery(ListQuery):
    category: Category | None = None
    #: Archived products too (the console's catalogue); left out by default.
    include_archived: bool = False


@routes.get(
    "/api/v1/products",
    access=Access.PUBLIC,
    query=ProductListQuery,
    tags=("products",),
    summary="The catalog, by id",
)
async def products_index(request: web.Request) -> web.Response:
    query = parse_query(request, ProductListQuery)
    async with request.app[SESSIONS_KEY]() as db:
        found = await list_products(
            db,
            limit=query.limit,
            offset=query.offset,
            category=query.category,
            include_archived=query.include_archived,
        )
    return json_response(page([product_to_dict(p) for p in found], query))


@routes.get(
    "/api/v1/products/{product_id}",
    access=Access.PUBLIC,
    tags=("products",),
    summary="One product",
    errors=(404,),
)
async def product_item(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    async with request.app[SESSIONS_KEY]() as db:
        product = await get_product(db, product_id)
    return json_response(product_to_dict(product))


def setup(app: web.Application) -> None:
    routes.install(app)
