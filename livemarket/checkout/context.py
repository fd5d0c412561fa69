"""What the checkout services need, in one object: database, ledger, bus, clock, settings,
and the backend chosen once for this deployment (:mod:`backend`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.events import EventBus
from livemarket.checkout.backend import CheckoutBackend
from livemarket.checkout.backend_embedded import EmbeddedBackend
from livemarket.checkout.backend_redis import RedisBackend
from livemarket.checkout.backend_sql import TransactionBackend
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.payment import ManualProvider, PaymentProvider
from livemarket.checkout.push import StockPusher
from livemarket.config import Settings


def choose_backend(
    engine: AsyncEngine, ledger: StockLedger, pusher: StockPusher
) -> CheckoutBackend:
    """Embedded (a SQLite file, the SQL ledger); PostgreSQL + Redis; else one transaction."""
    dialect, path = engine.dialect.name, engine.url.database
    if dialect == "sqlite" and ledger.transactional and path and path != ":memory:":
        return EmbeddedBackend(engine, ledger, pusher, path)
    if dialect == "postgresql" and not ledger.transactional:
        return RedisBackend(engine, ledger, pusher)
    return TransactionBackend(engine, ledger, pusher)


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
    #: How orders are taken and written here, with its caches (chosen from engine and ledger).
    backend: CheckoutBackend = field(init=False)

    def __post_init__(self) -> None:
        self.backend = choose_backend(self.engine, self.ledger, self.pusher)

    async def close(self) -> None:
        """Stop the backend's writers and key lookups (the engine belongs to the app)."""
        await self.backend.close()

    async def warm_up(self) -> None:
        """Open the first database connections before the first rush of orders."""
        await self.backend.warm_up()
