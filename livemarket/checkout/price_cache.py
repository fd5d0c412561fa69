"""Prices and open deals kept in memory for a moment, so an order reads no table.

Used with the Redis ledger, where the price read was the order's last database
round trip before the write. Rows are kept ``window`` long; this process drops
a product's row at once when it starts or ends a deal there, edits the product,
or the ledger refuses with ``deal_ended``. A deal started or a price changed by
*another* instance is seen at the latest ``window`` later; a deal ended
elsewhere is refused by the Redis ledger at once (it holds each deal's open
flag), so a stale row can never sell a closed deal's units.

Only pricing fields may be trusted from a cached row (its ``stock`` and ``sold``
are not maintained; the ledger is the truth for counts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

WINDOW = timedelta(seconds=1)


class PriceCache:
    """Product id → (price row, until when it may be used). No I/O."""

    def __init__(self, window: timedelta = WINDOW) -> None:
        self._window = window
        self._rows: dict[int, tuple[Any, datetime]] = {}
        #: Bumped by every :meth:`forget`; rows read before a bump are not kept.
        self.generation = 0
        #: Reads in flight, by product ids: a crowd missing at once makes one read.
        self.loading: dict[tuple[int, ...], asyncio.Future[list[Any]]] = {}

    def get(self, product_ids: Sequence[int], now: datetime) -> list[Any] | None:
        """Rows for every id, or ``None`` when any is missing or too old."""
        found = []
        for product_id in product_ids:
            entry = self._rows.get(product_id)
            if entry is None or entry[1] <= now:
                return None
            found.append(entry[0])
        return found

    def put(self, rows: Iterable[Any], now: datetime, read_at: int) -> None:
        """Keep rows read at generation ``read_at`` (dropped if a change came meanwhile)."""
        if read_at != self.generation:
            return
        until = now + self._window
        for row in rows:
            self._rows[row.product_id] = (row, until)

    def forget(self, product_ids: Iterable[int]) -> None:
        self.generation += 1
        for product_id in product_ids:
            self._rows.pop(product_id, None)
