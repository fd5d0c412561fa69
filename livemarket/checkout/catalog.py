"""The catalog's read side: products as the contract shapes them."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.checkout.images import image_url
from livemarket.checkout.models import Product
from livemarket.errors import NotFound
from livemarket.scheduler.models import Special, SpecialProduct
from livemarket.storage.base import utcnow
from livemarket.versions import check_version


class Category(StrEnum):
    FOOD = "food"
    BEAUTY = "beauty"
    LIVING = "living"
    FASHION = "fashion"


def product_to_dict(product: Product) -> dict[str, Any]:
    """The contract's product shape (``id, name, category, price, stock``) plus details."""
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "name_en": product.name_en,
        "category": product.category,
        "maker": product.maker,
        "description": product.description,
        "price": product.price,
        "stock": product.stock,
        "version": product.version,
        "archived": product.archived_at is not None,
        "image_url": image_url(product.image),
    }


async def list_products(
    session: AsyncSession,
    *,
    limit: int,
    offset: int = 0,
    category: Category | None = None,
    ids: list[int] | None = None,
    include_archived: bool = False,
) -> list[Product]:
    """Products by id, ``limit`` + 1 of them so the caller can tell whether more follow.

    Archived products are left out unless asked for (the console's catalogue asks).
    """
    query = select(Product).order_by(Product.id).limit(limit + 1).offset(offset)
    if not include_archived:
        query = query.where(Product.archived_at.is_(None))
    if category is not None:
        query = query.where(Product.category == category.value)
    if ids is not None:
        query = query.where(Product.id.in_(ids))
    return list(await session.scalars(query))


async def get_product(session: AsyncSession, product_id: int) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("product_not_found", f"No product {product_id}.")
    return product


# --- write side (checkout routes: POST/PATCH /api/v1/products) -------------------------


async def create_product(session: AsyncSession, **fields: object) -> Product:
    """Add a product; a taken SKU is ``sku_taken`` (409). Without a SKU one is derived."""
    from sqlalchemy.exc import IntegrityError

    from livemarket.errors import Conflict

    sku = fields.pop("sku", None)
    product = Product(sku=sku or f"tmp-{uuid.uuid4().hex[:12]}", **fields)
    session.add(product)
    try:
        await session.flush()
        if not sku:
            product.sku = f"P{product.id:05d}"
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("sku_taken", f"SKU {sku!r} is already used") from exc
    return product


async def update_product(
    session: AsyncSession,
    product_id: int,
    *,
    expected_version: int | None = None,
    from_header: bool = False,
    **changes: object,
) -> Product:
    """Change a product's descriptive fields, price or archived flag (stock goes through
    the ledger), based on the version the editor saw; every edit bumps the version."""
    product = await get_product(session, product_id)
    check_version(product.version, expected_version, from_header=from_header, what="product")
    archived = changes.pop("archived", None)
    if archived is not None:
        product.archived_at = (product.archived_at or utcnow()) if archived else None
    for name, value in changes.items():
        setattr(product, name, value.value if isinstance(value, Category) else value)
    product.version += 1
    await session.commit()
    return product


async def set_image(session: AsyncSession, product_id: int, name: str | None) -> Product:
    """Point the product at a stored picture (or none); bumps its version."""
    product = await get_product(session, product_id)
    product.image = name
    product.version += 1
    await session.commit()
    return product


async def specials_of_product(session: AsyncSession, product_id: int) -> list[Special]:
    """Specials whose line-up has the product, live ones first, then by start."""
    rows = await session.scalars(
        select(Special)
        .join(SpecialProduct, SpecialProduct.special_id == Special.id)
        .where(SpecialProduct.product_id == product_id, Special.status != "cancelled")
        .order_by((Special.status == "live").desc(), Special.starts_at)
    )
    return list(rows)


async def lineup(session: AsyncSession, special_id: int) -> tuple[list[Product], int | None]:
    """A special's products in presentation order, and its pinned product's id."""
    special = await session.get(Special, special_id)
    if special is None:
        raise NotFound("special_not_found", f"No special {special_id}.")
    rows = await session.scalars(
        select(Product)
        .join(SpecialProduct, SpecialProduct.product_id == Product.id)
        .where(SpecialProduct.special_id == special_id)
        .order_by(SpecialProduct.position, Product.id)
    )
    return list(rows), special.pinned_product_id
