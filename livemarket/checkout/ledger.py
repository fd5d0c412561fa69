"""The stock ledger interface: atomic holds on product stock and deal quantities.

Two backends keep it: :mod:`ledger_sql` (a conditional ``UPDATE`` inside the
order's own transaction; SQLite and PostgreSQL) and :mod:`ledger_redis` (one Lua
script, for scale-out). Either way a reservation takes every line or none, so
under any concurrency exactly the available quantity is sold.

Every call takes the caller's database connection: the SQL backend works inside
that transaction (the order and its stock commit together); the Redis backend
uses it only to load counters it does not hold yet. Either way the database's
counters (``products.stock``, ``flash_deals.sold``) move in the same transaction
as the orders, so they are the durable truth any lost counter is rebuilt from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.errors import Conflict, DomainError, ErrorKind


@dataclass(frozen=True)
class Hold:
    """One line to reserve: ``quantity`` of a product, from a deal's quantity if ``deal_id``."""

    product_id: int
    quantity: int
    deal_id: int | None = None
    per_buyer_limit: int = 0


@dataclass(frozen=True)
class Remaining:
    """What is left after a reservation or release (for the live ``stock`` push)."""

    product_id: int
    stock: int
    deal_id: int | None = None
    deal_remaining: int | None = None
    #: Which generation of a ledger outside the database took the units (see
    #: ``ledger_redis``): giving them back after its counters were rebuilt must not count.
    epoch: str | None = None


class CountersMissing(Exception):
    """``reserve`` was called without a connection and needs one to load a counter."""


#: Seconds a client is told to wait while the stock counters are recounted.
RECOUNT_RETRY_AFTER_S = 1


def stock_unavailable() -> DomainError:
    """503: the counters outside the database were lost and are being rebuilt."""
    return DomainError(
        "stock_unavailable",
        "stock is being recounted; retry in a moment",
        kind=ErrorKind.UNAVAILABLE,
        retry_after=RECOUNT_RETRY_AFTER_S,
    )


def sold_out(product_id: int) -> Conflict:
    return Conflict("sold_out", "sold out", product_id=product_id)


def deal_sold_out(product_id: int, deal_id: int) -> Conflict:
    return Conflict("deal_sold_out", "the deal is sold out", product_id=product_id, deal_id=deal_id)


def deal_ended(product_id: int, deal_id: int) -> Conflict:
    return Conflict("deal_ended", "the deal has ended", product_id=product_id, deal_id=deal_id)


def limit_reached(product_id: int, limit: int, had: int) -> Conflict:
    left = max(limit - had, 0)
    return Conflict(
        "deal_limit_reached",
        f"at most {limit} per buyer in this deal; {left} left for you",
        product_id=product_id,
        limit=limit,
        left=left,
    )


class StockLedger(Protocol):
    #: True when holds live in the caller's transaction (a rollback undoes them);
    #: False when they are taken at once elsewhere and must be released on failure.
    transactional: bool

    async def reserve(
        self, conn: AsyncConnection | None, buyer_key: str, holds: Sequence[Hold], now: datetime
    ) -> list[Remaining]:
        """Take every hold or none; raise ``sold_out``, ``deal_sold_out``, ``deal_ended``
        or ``deal_limit_reached`` (all 409) naming the product.

        Without ``conn`` (the Redis ledger's usual case needs none) a ledger that must
        read the database first raises :class:`CountersMissing`, having taken nothing."""

    async def release(
        self,
        conn: AsyncConnection | None,
        buyer_key: str,
        holds: Sequence[Hold],
        *,
        epoch: str | None = None,
    ) -> list[Remaining]:
        """Give held units back (an order expired or was cancelled, or was never written).

        A transactional ledger works in ``conn``'s transaction. A ledger outside the
        database needs no connection (the database may be what failed) and gives
        back only into counters of ``epoch`` (the reservation's, when given): units
        taken before its counters were rebuilt were never in the rebuilt figures."""

    async def open_deal(
        self, conn: AsyncConnection, deal_id: int, quantity: int, ends_at: datetime
    ) -> None:
        """Make a new deal's quantity reservable until ``ends_at``."""

    async def close_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        """Stop reservations on a deal at once (it ended)."""

    async def stock(self, conn: AsyncConnection, product_id: int) -> int:
        """The product's current available stock."""

    async def set_stock(self, conn: AsyncConnection, product_id: int, stock: int) -> None:
        """Set the available stock (an operator edited the product)."""

    async def reconcile(self, conn: AsyncConnection) -> list[str]:
        """Repair drift between counters kept outside the database and the database's
        (no-op for SQL); returns what was fixed, for the log."""

    async def close(self) -> None:
        """Release connections."""
