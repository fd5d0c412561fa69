"""Which special an order may be credited to: one selling now, whose line-up holds every
product ordered. The rule is a plain function; :class:`SaleWindows` reads a special's
slot and line-up and keeps them for a moment (orders are the hot path).

Without this rule any order could name any special (an ended one, one that never
showed the product) and be counted in that special's sales.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.pricing import CLOSED_SPECIAL, SpecialSlot
from livemarket.checkout.tables import special_products, specials
from livemarket.errors import DomainError, NotFound

#: How long a special's slot and line-up are trusted without reading them again.
WINDOW = timedelta(seconds=1)


@dataclass(frozen=True)
class SaleWindow:
    slot: SpecialSlot
    line_up: frozenset[int]


def check_attribution(
    window: SaleWindow, product_ids: Iterable[int], now: datetime, early_minutes: int
) -> None:
    """Refuse (422) crediting an order to a special that is not selling or lacks a product.

    Selling: live, or scheduled from ``early_minutes`` before its start until its end
    (the window a host may go live and start deals in).
    """
    slot = window.slot
    opens = slot.starts_at - timedelta(minutes=early_minutes)
    selling = slot.status == "live" or (
        slot.status not in CLOSED_SPECIAL and opens <= now < slot.ends_at
    )
    if not selling:
        raise DomainError(
            "special_not_selling",
            f"this special is {slot.status} and not selling now; order without it",
            status=slot.status,
        )
    for product_id in product_ids:
        if product_id not in window.line_up:
            raise DomainError(
                "product_not_in_special",
                f"product {product_id} is not in this special's line-up",
                product_id=product_id,
            )


class SaleWindows:
    """Special id → (its sale window, until when it may be used), read once per window.

    Orders arrive hundreds at a time: when a window runs out, the first order reads the
    special again and every order arriving meanwhile waits for that one read (one
    query per special per window, not one per order, which queued every order of a
    flash sale behind the database).
    """

    def __init__(self, window: timedelta = WINDOW, max_specials: int = 10_000) -> None:
        self._window = window
        self._max = max_specials
        self._known: dict[int, tuple[SaleWindow, datetime]] = {}
        self._loading: dict[int, asyncio.Future[SaleWindow]] = {}

    async def get(self, engine: AsyncEngine, special_id: int, now: datetime) -> SaleWindow:
        """The special's window; ``special_not_found`` when there is no such special."""
        known = self._known.get(special_id)
        if known is not None and known[1] > now:
            return known[0]
        loading = self._loading.get(special_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(engine, special_id, now))
            self._loading[special_id] = loading
            loading.add_done_callback(lambda done: self._loaded(special_id, done))
        # Shielded: one caller giving up (a client hanging up) must not cancel the read
        # the others wait for.
        return await asyncio.shield(loading)

    def _loaded(self, special_id: int, done: asyncio.Future[SaleWindow]) -> None:
        self._loading.pop(special_id, None)
        if not done.cancelled():
            done.exception()  # seen here, even if every waiter has gone

    async def _load(self, engine: AsyncEngine, special_id: int, now: datetime) -> SaleWindow:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(specials.c.status, specials.c.starts_at, specials.c.ends_at).where(
                        specials.c.id == special_id
                    )
                )
            ).one_or_none()
            if row is None:
                raise NotFound("special_not_found", f"No special {special_id}.")
            line_up = (
                await conn.execute(
                    select(special_products.c.product_id).where(
                        special_products.c.special_id == special_id
                    )
                )
            ).scalars()
            found = SaleWindow(
                SpecialSlot(str(row.status), row.starts_at, row.ends_at), frozenset(line_up)
            )
        if len(self._known) >= self._max:
            self._known.clear()
        self._known[special_id] = (found, now + self._window)
        return found
