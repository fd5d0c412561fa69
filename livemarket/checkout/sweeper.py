"""The sweeper: ends deals at ``ends_at``, expires unpaid holds, reconciles the ledger.

One task per instance, owned by the app's cleanup context. Every step is a
conditional transition, so several instances sweeping at once change each
order or deal once.
"""

from __future__ import annotations

import asyncio
import logging

from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import end_due_deals
from livemarket.checkout.orders import expire_due_holds
from livemarket.tasks import raise_if_cancelled

log = logging.getLogger(__name__)


async def sweep_once(ctx: CheckoutContext) -> None:
    """One pass; each step runs even if an earlier one failed."""
    for step in (_deals, _holds, _reconcile):
        try:
            await step(ctx)
        except Exception:
            log.exception("checkout sweep step %s failed", step.__name__)


async def _deals(ctx: CheckoutContext) -> None:
    await end_due_deals(ctx)


async def _holds(ctx: CheckoutContext) -> None:
    await expire_due_holds(ctx)


async def _reconcile(ctx: CheckoutContext) -> None:
    """Repair drift between a ledger outside the database and the database's counters
    (the backend keeps the pace)."""
    await ctx.backend.reconcile()


async def run_sweeper(ctx: CheckoutContext, interval: float = 0.5) -> None:
    """Sweep every ``interval`` seconds until cancelled (deals end within that of ``ends_at``)."""
    while True:
        await sweep_once(ctx)
        raise_if_cancelled()  # a stop requested mid-sweep must not be lost in a library
        await asyncio.sleep(interval)
