"""The product pinned over a special's video: one calendar write, then its event.

The host or an operator pins a product of the special's line-up (or unpins with
``None``); viewers learn of it from ``product.pinned`` on the special's topic.
Who may pin is the caller's check (the realtime gateway's moderators).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus import catalogue
from livemarket.bus.events import EventBus, special_topic
from livemarket.checkout.models import Product
from livemarket.errors import DomainError, NotFound
from livemarket.scheduler.models import Special, SpecialProduct


def pinned_view(product: Product) -> catalogue.ProductView:
    """The pinned product as viewers see it (snapshot and ``product.pinned`` alike)."""
    return catalogue.ProductView(
        id=product.id, name=product.name, price=product.price, category=product.category
    )


async def pin_product(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    special_id: int,
    product_id: int | None,
) -> None:
    """Pin a product of the special's line-up over the video (``None`` unpins).

    A special without a line-up may pin any product; one with a line-up only its own.
    """
    view = None
    async with sessions.begin() as db:
        if product_id is not None:
            product = await db.get(Product, product_id)
            if product is None:
                raise NotFound("product_not_found", "No such product.")
            lineup = set(
                await db.scalars(
                    select(SpecialProduct.product_id).where(SpecialProduct.special_id == special_id)
                )
            )
            if lineup and product_id not in lineup:
                raise DomainError(
                    "product_not_in_special", "That product is not in this special's line-up."
                )
            view = pinned_view(product)
        await db.execute(
            update(Special).where(Special.id == special_id).values(pinned_product_id=product_id)
        )
    event = catalogue.ProductPinned(
        type=catalogue.PRODUCT_PINNED, special_id=special_id, product_id=product_id, product=view
    )
    await bus.publish(special_topic(special_id), event)
