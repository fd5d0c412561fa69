"""A short memory of sold-out products, so a crowd's refusals cost no ledger call.

When a product runs out, every further order for it would read prices and ask
the ledger only to be refused. :class:`SoldOutMemo` remembers "fewer than ``q``
units of product P were left at ``t``" for ``window``; during it an order for
``q`` or more of P is refused at once. No I/O, no clock of its own.

Why it is safe: a refusal sells nothing, so the memo can never oversell. Its
only cost is a refusal that a return of stock in the meantime would have
turned into a sale. Stock returned *by this process* (a hold expired or was
cancelled, a failed write gave units back, an operator raised the stock) calls
:meth:`forget` at once; stock returned by another instance is seen at the
latest ``window`` after the refusal was noted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

#: How long a noted sell-out answers for itself (the staleness bound across instances).
WINDOW = timedelta(seconds=1)
_MAX_ENTRIES = 10_000


class Item(Protocol):
    @property
    def product_id(self) -> int: ...

    @property
    def quantity(self) -> int: ...


class SoldOutMemo:
    """Product id → (smallest quantity refused, until when that refusal stands)."""

    def __init__(self, window: timedelta = WINDOW) -> None:
        self._window = window
        self._short: dict[int, tuple[int, datetime]] = {}
        #: Bumped by every :meth:`forget`; a refusal seen before a bump is not noted.
        self.generation = 0

    def note(self, product_id: int, quantity: int, now: datetime, since: int) -> None:
        """The ledger refused ``quantity`` of the product (asked at ``generation`` ``since``).

        Stock returned while the ledger was being asked makes the refusal stale: then
        nothing is noted.
        """
        if since != self.generation:
            return
        if len(self._short) >= _MAX_ENTRIES:
            self._short = {p: v for p, v in self._short.items() if v[1] > now}
        known = self._short.get(product_id)
        if known is not None and known[1] > now:
            quantity = min(quantity, known[0])
        self._short[product_id] = (quantity, now + self._window)

    def refusal(self, items: Iterable[Item], now: datetime) -> int | None:
        """The first item's product known to be short of its quantity, or ``None``."""
        for item in items:
            known = self._short.get(item.product_id)
            if known is not None and item.quantity >= known[0] and known[1] > now:
                return item.product_id
        return None

    def forget(self, product_ids: Iterable[int]) -> None:
        """Stock came back: ask the ledger again."""
        self.generation += 1
        for product_id in product_ids:
            self._short.pop(product_id, None)
