"""Products over HTTP: the catalog (read by anyone), its writes and pictures (operators).

Product edits and stock go through the checkout's backend, which keeps its own
caches (prices, sold-out memo) right and pushes the new stock counts.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import Field

from livemarket.accounts.roles import Access
from livemarket.checkout import catalog, images
from livemarket.web.api import (
    ApiRoutes,
    body_of,
    expected_version,
    parse_query,
    path_int,
    versioned_response,
)
from livemarket.web.errors import ApiError
from livemarket.web.fields import Body, Line, Prose
from livemarket.web.pagination import ListQuery, page
from livemarket.web.responses import json_response
from livemarket.web.routes.checkout.shared import checkout_of
from livemarket.web.typedefs import SESSIONS_KEY, SETTINGS_KEY

routes = ApiRoutes()
TAGS = ("products",)


class ProductListQuery(ListQuery):
    category: catalog.Category | None = None
    #: Archived products too (the console's catalogue); left out by default.
    include_archived: bool = False


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


@routes.get(
    "/api/v1/products",
    access=Access.PUBLIC,
    query=ProductListQuery,
    tags=TAGS,
    summary="The catalog, by id",
)
async def products_index(request: web.Request) -> web.Response:
    query = parse_query(request, ProductListQuery)
    async with request.app[SESSIONS_KEY]() as db:
        found = await catalog.list_products(
            db,
            limit=query.limit,
            offset=query.offset,
            category=query.category,
            include_archived=query.include_archived,
        )
    return json_response(page([catalog.product_to_dict(p) for p in found], query))


@routes.get(
    "/api/v1/products/{product_id}",
    access=Access.PUBLIC,
    tags=TAGS,
    summary="One product",
    errors=(404,),
)
async def product_item(request: web.Request) -> web.Response:
    product_id = path_int(request, "product_id")
    async with request.app[SESSIONS_KEY]() as db:
        product = await catalog.get_product(db, product_id)
    return json_response(catalog.product_to_dict(product))


@routes.post(
    "/api/v1/products",
    access=Access.OPERATOR,
    body=ProductBody,
    tags=TAGS,
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
    tags=TAGS,
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
    ctx = checkout_of(request)
    async with request.app[SESSIONS_KEY]() as db:
        product = await ctx.backend.update_product(
            db, product_id, expected_version=version, from_header=from_header, **changes
        )
    if stock is not None:
        await ctx.backend.set_stock(product_id, stock)
        product.stock = stock
    return versioned_response(catalog.product_to_dict(product))


@routes.put(
    "/api/v1/products/{product_id}/image",
    access=Access.OPERATOR,
    tags=TAGS,
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
    tags=TAGS,
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


def setup(app: web.Application) -> None:
    routes.install(app)
    app.router.add_get("/media/product-images/{name}", product_image_file)
