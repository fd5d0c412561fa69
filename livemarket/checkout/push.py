"""Live ``stock`` frames, coalesced: at most one per product per interval.

A deal selling 1,000 units a second must not send viewers 1,000 frames a
second; only the newest count matters, so later notes overwrite earlier ones
and a single task flushes them every ``interval`` (owned by the app's cleanup).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from livemarket.bus import catalogue
from livemarket.bus.events import EventBus, special_topic
from livemarket.checkout.ledger import Remaining

log = logging.getLogger(__name__)


def stock_event(item: Remaining) -> catalogue.Stock:
    """The ``stock`` frame: ``remaining`` is the deal's units while a deal sells, else stock."""
    remaining = item.stock if item.deal_remaining is None else item.deal_remaining
    return catalogue.Stock(
        type=catalogue.STOCK,
        product_id=item.product_id,
        remaining=max(remaining, 0),
        stock=max(item.stock, 0),
        deal_id=item.deal_id,
    )


class StockPusher:
    """Keeps the newest stock count per (special, product) and publishes them periodically."""

    def __init__(self, bus: EventBus, interval: float = 0.25) -> None:
        self._bus = bus
        self._interval = interval
        self._pending: dict[tuple[int, int], catalogue.Stock] = {}
        self._wake = asyncio.Event()

    def note(self, special_id: int | None, items: Iterable[Remaining]) -> None:
        """Remember the newest counts; never blocks, never publishes inline."""
        if special_id is None:
            return
        for item in items:
            self._pending[(special_id, item.product_id)] = stock_event(item)
        self._wake.set()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for (special_id, _product), event in pending.items():
            await self._bus.publish(special_topic(special_id), event)

    async def run(self) -> None:
        """Flush at most once per interval while there is something to send."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("stock push failed")
            await asyncio.sleep(self._interval)
