"""How checkout takes stock and writes orders, one strategy per deployment, chosen once.

Three strategies (``CheckoutContext`` picks one at start, :func:`context.choose_backend`):

- :class:`~livemarket.checkout.backend_embedded.EmbeddedBackend`: a SQLite file and the SQL
  ledger; one writer thread reads, takes and writes orders in batches.
- :class:`~livemarket.checkout.backend_redis.RedisBackend`: PostgreSQL with the Redis ledger;
  prices cached for a moment, Lua reservations, group-committed writes.
- :class:`~livemarket.checkout.backend_sql.TransactionBackend`: any other pairing (PostgreSQL
  with the SQL ledger, an in-memory SQLite, SQLite with Redis): Core statements in one
  transaction.

Each backend owns its caches and keeps them true itself, because every write that changes
what they hold goes through it: stock given back (:meth:`CheckoutBackend.release`) or set
(:meth:`set_stock`), a deal opened or closed (:meth:`open_deal`, :meth:`close_deals`), a
product edited (:meth:`update_product`); so does a ledger refusal showing a cache was stale
(``deal_ended``). Entries are dropped once the write has committed. No caller outside the
backends invalidates anything; ``orders.py`` and ``deals.py`` keep the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from livemarket.checkout import catalog
from livemarket.checkout.attribution import SaleWindow, SaleWindows
from livemarket.checkout.buyer import Buyer
from livemarket.checkout.keys import KeyIndex
from livemarket.checkout.ledger import Hold, Remaining, StockLedger
from livemarket.checkout.ledger_sql import SqlLedger
from livemarket.checkout.models import Product
from livemarket.checkout.pricing import Deal
from livemarket.checkout.push import StockPusher
from livemarket.checkout.soldout import SoldOutCheck, SoldOutMemo
from livemarket.checkout.sqlite_writer import Earlier, Planner, Written
from livemarket.errors import DomainError

log = logging.getLogger(__name__)

#: The database's counters, moved in the order's transaction when the ledger lives
#: elsewhere (Redis), so a lost Redis is rebuilt from figures that match the orders.
DATABASE_COUNTERS = SqlLedger()
#: Seconds between two reconciliations of a ledger outside the database with the database.
RECONCILE_EVERY_S = 2.0


@dataclass(frozen=True)
class OrderRequest:
    """One buyer's order as asked: who, under which idempotency key, what, credited where."""

    key: str
    buyer_key: str
    items: Sequence[Any]  # ``orders.OrderItem``: merged, sorted by product id
    buyer: Buyer
    special_id: int | None
    payment_method: str


@dataclass
class Transaction:
    """A write transaction, and what the backend does once it has committed."""

    conn: AsyncConnection
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class CheckoutBackend(ABC):
    """The order path and its caches for one kind of deployment (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, ledger: StockLedger, pusher: StockPusher) -> None:
        self.engine = engine
        self.ledger = ledger
        self._pusher = pusher
        #: On SQLite, checkout's writers queue here: SQLite's own busy handler sleeps up to
        #: 100 ms per retry, which collapses throughput when many writers collide.
        self.write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        #: Products just refused for stock: refusals that skip the ledger.
        self._sold_out = SoldOutMemo()
        #: Specials' slots and line-ups for a moment: which may be credited (time-bound only).
        self._sale_windows = SaleWindows()
        #: Batched idempotency-key lookups and the same-key gate.
        self.keys = KeyIndex(engine, sole_writer=self.sole_writer)
        #: Event-loop time of the next ledger reconciliation (0: at once).
        self._next_reconcile = 0.0

    #: This process writes every order (the key index may then keep every key in memory).
    sole_writer = False

    @property
    def counters_in_database(self) -> bool:
        """The ledger is the database's own counters (so price rows show what is left)."""
        return self.ledger.transactional

    # --- the order path ---------------------------------------------------------------

    def check_sold_out(self, items: Iterable[Any], now: datetime) -> SoldOutCheck:
        """Whether an order is refused from memory; take it before any other await."""
        return self._sold_out.check(items, now)

    async def sale_window(self, special_id: int, now: datetime) -> SaleWindow:
        return await self._sale_windows.get(self.engine, special_id, now)

    async def place(
        self, req: OrderRequest, now: datetime, plan: Planner, check: SoldOutCheck
    ) -> Written | Earlier:
        """Price (``plan``, the rules), take the stock and write the order; refusals raise.

        ``check`` is what the sold-out memo said when the order came in: a stock refusal
        is remembered only if no stock came back since.
        """
        try:
            outcome = await self._reserve_and_write(req, now, plan)
        except DomainError as exc:
            self._learn_from_refusal(exc, req.items, now, check)
            raise
        if isinstance(outcome, Written):  # stock was there: a probe's product sells again
            self.keys.stored(req.key)
            self._sold_out.sold(item.product_id for item in req.items)
        return outcome

    @abstractmethod
    async def _reserve_and_write(
        self, req: OrderRequest, now: datetime, plan: Planner
    ) -> Written | Earlier: ...

    def _learn_from_refusal(
        self, exc: DomainError, items: Sequence[Any], now: datetime, check: SoldOutCheck
    ) -> None:
        """Note a sell-out for the fast refusal path; an ended deal's prices are read again."""
        product_id = exc.details.get("product_id")
        if not isinstance(product_id, int):
            return
        if exc.code == "deal_ended":
            self._prices_changed([product_id])
        elif exc.code == "sold_out":
            quantity = next((i.quantity for i in items if i.product_id == product_id), None)
            if quantity is not None:
                self._sold_out.note(product_id, quantity, now, check.generation)

    # --- writes that change what the caches hold --------------------------------------

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[Transaction]:
        """A write transaction: connection first, then the SQLite writers' lock (one order
        everywhere, or a full pool deadlocks). Never nest two, nor open another connection
        inside one. Its ``after_commit`` steps run once it committed, outside the lock."""
        async with self.engine.connect() as conn, self._exclusive(), conn.begin():
            tx = Transaction(conn)
            yield tx
        for step in tx.after_commit:
            await step()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self.write_lock is None:
            yield
        else:
            async with self.write_lock:
                yield

    async def release(
        self, tx: Transaction, buyer_key: str, holds: Sequence[Hold], special_id: int | None
    ) -> None:
        """Give an order's units back in ``tx``; once committed, in a ledger outside the
        database too, and the new counts are pushed to the special's viewers."""
        if self.ledger.transactional:
            released = await self.ledger.release(tx.conn, buyer_key, holds)
        else:
            released = await DATABASE_COUNTERS.release(tx.conn, buyer_key, holds)

        async def committed() -> None:
            left = released
            if holds and not self.ledger.transactional:
                left = await self.give_back(buyer_key, holds)
            self._stock_returned(hold.product_id for hold in holds)
            self._pusher.note(special_id, left)

        tx.after_commit.append(committed)

    async def give_back(
        self, buyer_key: str, holds: Sequence[Hold], epoch: str | None = None
    ) -> list[Remaining]:
        """Units back into a ledger outside the database, without the database (it may be
        what failed); a failure here leaves drift the ledger's reconciliation repairs."""
        try:
            left = await self.ledger.release(None, buyer_key, holds, epoch=epoch)
        except Exception:
            log.warning(
                "could not give %d line(s) back to the stock ledger", len(holds), exc_info=True
            )
            return []
        self._stock_returned(hold.product_id for hold in holds)
        return left

    async def set_stock(self, product_id: int, stock: int) -> None:
        """An operator sets a product's stock (units may come back)."""
        async with self.engine.begin() as conn:
            await self.ledger.set_stock(conn, product_id, stock)
        self._stock_returned([product_id])

    async def stock(self, conn: AsyncConnection, product_id: int) -> int:
        return await self.ledger.stock(conn, product_id)

    async def open_deal(self, tx: Transaction, deal: Deal) -> None:
        """Open a just-inserted deal in the ledger; its product is priced again once committed."""
        await self.ledger.open_deal(tx.conn, deal.id, deal.quantity, deal.ends_at)
        self._prices_change_on_commit(tx, [deal.product_id])

    async def close_deals(self, tx: Transaction, rows: Sequence[Row[Any]]) -> None:
        """Close just-ended deals in the ledger; their products are priced again once committed."""
        for row in rows:
            await self.ledger.close_deal(tx.conn, row.id)
        self._prices_change_on_commit(tx, [row.product_id for row in rows])

    async def update_product(self, db: AsyncSession, product_id: int, **changes: Any) -> Product:
        """Edit a product (``catalog.update_product``); its price is read again."""
        product = await catalog.update_product(db, product_id, **changes)
        self._prices_changed([product_id])
        return product

    # --- the caches themselves -----------------------------------------------------------

    def _stock_returned(self, product_ids: Iterable[int]) -> None:
        """Units of these products came back: refusals must ask the ledger again."""
        self._sold_out.forget(product_ids)

    def _prices_changed(self, product_ids: Iterable[int]) -> None:
        """A deal started or ended, or a price changed (only a backend caching prices cares)."""
        return None  # no prices cached here

    def _prices_change_on_commit(self, tx: Transaction, product_ids: list[int]) -> None:
        self._prices_changed(product_ids)  # a read in flight now is not kept (generation)

        async def committed() -> None:
            self._prices_changed(product_ids)

        tx.after_commit.append(committed)

    # --- lifetime ----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Repair drift between a ledger outside the database and the database's counters
        (at first call, then every ``RECONCILE_EVERY_S``; reads only, unless something is off)."""
        if self.ledger.transactional:
            return  # the database holds the counters
        now = asyncio.get_running_loop().time()
        if now < self._next_reconcile:
            return
        self._next_reconcile = now + RECONCILE_EVERY_S
        async with self.engine.connect() as conn:
            await self.ledger.reconcile(conn)

    async def warm_up(self, connections: int = 6) -> None:
        """Open the pool's first PostgreSQL connections now, not in the first rush of orders
        (each costs a TLS handshake and type introspection)."""
        if self.engine.dialect.name != "postgresql":
            return

        async def touch() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.gather(*(touch() for _ in range(connections)))

    async def close(self) -> None:
        """Stop the backend's writers and the key lookups (the engine belongs to the app)."""
        await self.keys.close()
