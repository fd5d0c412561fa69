"""The catalog's read side: products as the contract shapes them."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.checkout.models import Product
from livemarket.errors import NotFound
from livemarket.scheduler.models import Special, SpecialProduct


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
    }


async def list_products(
    session: AsyncSession,
    *,
    limit: int,
    offset: int = 0,
    category: Category | None = None,
    ids: list[int] | None = None,
) -> list[Product]:
    """Products by id, ``limit`` + 1 of them so the caller can tell whether more follow."""
    query = select(Product).order_by(Product.id).limit(limit + 1).offset(offset)
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


async def update_product(session: AsyncSession, product_id: int, **changes: object) -> Product:
    """Change a product's descriptive fields and price (stock goes through the ledger)."""
    product = await get_product(session, product_id)
    for name, value in changes.items():
        setattr(product, name, value.value if isinstance(value, Category) else value)
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
