"""What the checkout services need, in one object: database, ledger, bus, clock, settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from livemarket.bus.events import EventBus
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.payment import ManualProvider, PaymentProvider
from livemarket.checkout.push import StockPusher
from livemarket.checkout.sqlite_writer import SqliteOrderWriter
from livemarket.config import Settings


@dataclass
class CheckoutContext:
    """Built once by the web layer (``routes/checkout.py``) and passed to every service call."""

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

    def __post_init__(self) -> None:
        if self.engine.dialect.name != "sqlite":
            return
        if self.write_lock is None:
            self.write_lock = asyncio.Lock()
        path = self.engine.url.database
        if self.order_writer is None and path and path != ":memory:":
            self.order_writer = SqliteOrderWriter(path)

    async def close(self) -> None:
        """Stop the order writer's thread (the engine belongs to the app)."""
        if self.order_writer is not None:
            await self.order_writer.close()

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
