"""What the checkout services need, in one object: database, ledger, bus, clock, settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.events import EventBus
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.payment import ManualProvider, PaymentProvider
from livemarket.checkout.push import StockPusher
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
