"""The catalog's read side: products as the contract shapes them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.checkout.models import Product
from livemarket.errors import NotFound


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
