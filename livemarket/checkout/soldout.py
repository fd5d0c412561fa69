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

When the window has passed, one order *probes* the ledger again while the others
go on being refused from memory until its answer comes (or ``PROBE_TIMEOUT``
passes, should the probe fail for another reason). Without it, every buyer of a
crowd that sends an order in the ledger's round trip asks the ledger (measured:
one order in six of a 300-buyer refusal flood went to the ledger, each second).
So a refusal from memory rests on a ledger answer at most ``window`` plus one
ledger call old, and a probe that sells (stock came back) clears the product.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

#: How long a noted sell-out answers for itself (the staleness bound across instances).
WINDOW = timedelta(seconds=1)
#: How long the other buyers wait for a probe's answer before one of them probes again.
PROBE_TIMEOUT = timedelta(milliseconds=500)
_MAX_ENTRIES = 10_000


class Item(Protocol):
    @property
    def product_id(self) -> int: ...

    @property
    def quantity(self) -> int: ...


@dataclass(frozen=True)
class SoldOutCheck:
    """What the memo said as an order came in."""

    #: A product known short of the order's quantity (refuse it at once), or ``None``.
    known_short: int | None
    #: The memo's generation then: a refusal asked after stock came back is not noted.
    generation: int


class _Shortage:
    """Fewer than ``quantity`` units at the last ledger answer, which stands ``until``."""

    __slots__ = ("probing_until", "quantity", "until")

    def __init__(self, quantity: int, until: datetime) -> None:
        self.quantity = quantity
        self.until = until
        #: Set while one order asks the ledger again after ``until``.
        self.probing_until: datetime | None = None


class SoldOutMemo:
    """Product id → the smallest quantity refused and until when that refusal stands."""

    def __init__(self, window: timedelta = WINDOW) -> None:
        self._window = window
        self._shortages: dict[int, _Shortage] = {}
        #: Bumped by every :meth:`forget`; a refusal seen before a bump is not noted.
        self.generation = 0

    def check(self, items: Iterable[Item], now: datetime) -> SoldOutCheck:
        """:meth:`refusal`, with the generation to pass to :meth:`note` afterwards."""
        return SoldOutCheck(self.refusal(items, now), self.generation)

    def note(self, product_id: int, quantity: int, now: datetime, asked_at: int) -> None:
        """The ledger refused ``quantity`` of the product (asked at generation ``asked_at``).

        Stock returned while the ledger was being asked makes the refusal stale: then
        nothing is noted.
        """
        if asked_at != self.generation:
            return
        if len(self._shortages) >= _MAX_ENTRIES:
            self._shortages = {p: v for p, v in self._shortages.items() if v.until > now}
        known = self._shortages.get(product_id)
        if known is not None and known.until > now:
            quantity = min(quantity, known.quantity)
        self._shortages[product_id] = _Shortage(quantity, now + self._window)

    def refusal(self, items: Iterable[Item], now: datetime) -> int | None:
        """The first item's product known to be short of its quantity, or ``None``.

        ``None`` for an item whose window has passed makes the caller that product's
        probe: until its answer is noted (or the probe times out) the others are refused.
        """
        probed: list[_Shortage] = []
        for item in items:
            known = self._shortages.get(item.product_id)
            if known is None or item.quantity < known.quantity:
                continue
            if known.until > now:
                return item.product_id
            if known.probing_until is not None and known.probing_until > now:
                return item.product_id  # another order is asking the ledger right now
            probed.append(known)
        for known in probed:
            known.probing_until = now + PROBE_TIMEOUT
        return None

    def sold(self, product_ids: Iterable[int]) -> None:
        """The ledger just sold these: what was noted of them no longer holds."""
        for product_id in product_ids:
            self._shortages.pop(product_id, None)

    def forget(self, product_ids: Iterable[int]) -> None:
        """Stock came back: ask the ledger again."""
        self.generation += 1
        for product_id in product_ids:
            self._shortages.pop(product_id, None)
