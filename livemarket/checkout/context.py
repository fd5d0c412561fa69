"""What the checkout services need, in one object: database, ledger, bus, clock, settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from livemarket.bus.events import EventBus
from livemarket.checkout.attribution import SaleWindows
from livemarket.checkout.keys import KeyIndex
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.payment import ManualProvider, PaymentProvider
from livemarket.checkout.pg_writer import PgOrderWriter
from livemarket.checkout.price_cache import PriceCache
from livemarket.checkout.push import StockPusher
from livemarket.checkout.soldout import SoldOutMemo
from livemarket.checkout.sqlite_writer import SqliteOrderWriter
from livemarket.config import Settings


@dataclass
class CheckoutContext:
    """Built once by the web layer (``web/services/checkout.py``), passed to every service call."""

    engine: AsyncEngine
    ledger: StockLedger
    bus: EventBus
    clock: Callable[[], datetime]
    settings: Settings
    pusher: StockPusher
    payments: PaymentProvider = field(default_factory=ManualProvider)
    #: On SQLite, checkout's writers queue here: SQLite's own busy handler sleeps up to
    #: 100 ms per retry, which collapses throughput when many writers collide.
    write_lock: asyncio.Lock | None = None

    #: On a SQLite file, the one-hop order writer (``sqlite_writer``); closed by ``close``.
    order_writer: SqliteOrderWriter | None = None
    #: On PostgreSQL with the Redis ledger, the group-commit order writer (``pg_writer``).
    batch_writer: PgOrderWriter | None = None
    #: Products just refused for stock (``soldout``): refusals that skip the ledger.
    sold_out: SoldOutMemo = field(default_factory=SoldOutMemo)
    #: Prices and open deals for a moment (``price_cache``; used with the Redis ledger).
    prices: PriceCache = field(default_factory=PriceCache)
    #: Specials' slots and line-ups for a moment (``attribution``): which may be credited.
    sale_windows: SaleWindows = field(default_factory=SaleWindows)
    #: Held while a reservation loads missing counters into Redis (one loader at a time).
    loading_counters: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Event-loop time of the sweeper's next ledger reconciliation (0: at once).
    next_reconcile: float = 0.0
    #: Batched idempotency-key lookups and the same-key gate (``keys``).
    keys: KeyIndex = field(init=False)

    def __post_init__(self) -> None:
        if self.engine.dialect.name == "postgresql" and not self.ledger.transactional:
            self.batch_writer = PgOrderWriter(self.engine)
        if self.engine.dialect.name == "sqlite":
            if self.write_lock is None:
                self.write_lock = asyncio.Lock()
            path = self.engine.url.database
            if self.order_writer is None and path and path != ":memory:":
                self.order_writer = SqliteOrderWriter(path, self.write_lock)
        # Embedded (SQLite writer, SQL ledger, no Redis): one process writes every order.
        sole_writer = self.order_writer is not None and self.ledger.transactional
        self.keys = KeyIndex(self.engine, sole_writer=sole_writer)

    async def close(self) -> None:
        """Stop the order writers and the key lookups (the engine belongs to the app)."""
        if self.order_writer is not None:
            await self.order_writer.close()
        if self.batch_writer is not None:
            await self.batch_writer.close()
        await self.keys.close()

    async def warm_up(self, connections: int = 6) -> None:
        """Open the pool's first PostgreSQL connections now, not in the first rush of orders
        (each costs a TLS handshake and type introspection)."""
        if self.engine.dialect.name != "postgresql":
            return

        async def touch() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.gather(*(touch() for _ in range(connections)))

    def stock_returned(self, product_ids: Iterable[int]) -> None:
        """Units of these products came back: refusals must ask the ledger again."""
        self.sold_out.forget(product_ids)

    def prices_changed(self, product_ids: Iterable[int]) -> None:
        """A deal started or ended, or a price changed: read these products again."""
        self.prices.forget(product_ids)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the SQLite writers' lock (nothing on PostgreSQL)."""
        if self.write_lock is None:
            yield
        else:
            async with self.write_lock:
                yield

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: connection first, then the lock (one order everywhere, or a
        full pool deadlocks). Never nest two, nor open another connection inside one."""
        async with self.engine.connect() as conn, self.exclusive(), conn.begin():
            yield conn
