"""The embedded backend: a SQLite file and the SQL ledger, one process writing every order.

The price read, the plan (the rules), taking the stock and the write run in batches on
the writer thread (:mod:`sqlite_writer`), one ``SAVEPOINT`` per order. Its caches: the
sold-out memo (:mod:`soldout`) and every stored idempotency key (:mod:`keys`,
``sole_writer``), both kept by :class:`~livemarket.checkout.backend.CheckoutBackend`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.backend import CheckoutBackend, OrderRequest
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.push import StockPusher
from livemarket.checkout.sqlite_writer import Earlier, Planner, SqliteOrderWriter, Written
from livemarket.errors import NotFound


class EmbeddedBackend(CheckoutBackend):
    """Orders through the SQLite writer thread; the database holds the counters."""

    sole_writer = True

    def __init__(
        self, engine: AsyncEngine, ledger: StockLedger, pusher: StockPusher, path: str
    ) -> None:
        super().__init__(engine, ledger, pusher)
        self._writer = SqliteOrderWriter(path, self.write_lock)

    async def _reserve_and_write(
        self, req: OrderRequest, now: datetime, plan: Planner
    ) -> Written | Earlier:
        product_ids = [item.product_id for item in req.items]
        try:  # the writer takes the writers' lock for each batch
            return await self._writer.order(product_ids, req.key, req.buyer_key, now, plan)
        except IntegrityError as exc:
            raise NotFound("special_not_found", f"No special {req.special_id}.") from exc

    async def close(self) -> None:
        await self._writer.close()
        await super().close()
