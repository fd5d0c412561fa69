"""Checkout: the stock ledger, the stock pusher and the sweeper, and what other parts
call into it (the ``hello`` snapshot's active deals, the calendar's deal starter)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from livemarket.bus import catalogue
from livemarket.checkout import deals
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.ledger import StockLedger
from livemarket.checkout.ledger_sql import SqlLedger
from livemarket.checkout.pricing import planned_duration_s
from livemarket.checkout.push import StockPusher
from livemarket.checkout.sweeper import run_sweeper
from livemarket.scheduler.runner import DealStart
from livemarket.tasks import cancel_and_wait, supervise
from livemarket.web.typedefs import (
    ACTIVE_DEALS_KEY,
    BUS_KEY,
    CHECKOUT_KEY,
    CLOCK_KEY,
    DEAL_STARTER_KEY,
    ENGINE_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

log = logging.getLogger(__name__)


async def checkout(app: web.Application) -> AsyncIterator[None]:
    """The stock ledger (Redis in scale-out, else SQL), the stock pusher and the sweeper."""
    settings = app[SETTINGS_KEY]
    ledger: StockLedger
    if settings.redis_url and REDIS_KEY in app:
        from livemarket.checkout.ledger_redis import RedisLedger

        ledger = RedisLedger(app[REDIS_KEY], settings.redis_prefix + "checkout:", owns_client=False)
    else:
        ledger = SqlLedger()
    pusher = StockPusher(app[BUS_KEY])
    ctx = CheckoutContext(
        engine=app[ENGINE_KEY],
        ledger=ledger,
        bus=app[BUS_KEY],
        clock=lambda: app[CLOCK_KEY](),
        settings=settings,
        pusher=pusher,
    )
    app[CHECKOUT_KEY] = ctx
    try:
        async with asyncio.timeout(5):
            await ctx.warm_up()
    except (OSError, TimeoutError, SQLAlchemyError):  # the first orders connect instead
        log.warning("checkout: could not open database connections at start-up", exc_info=True)
    tasks = [
        supervise("checkout-stock-push", lambda _h: pusher.run(), board=app[TASKS_KEY]),
        supervise("checkout-sweeper", lambda _h: run_sweeper(ctx), board=app[TASKS_KEY]),
    ]
    yield
    await cancel_and_wait(tasks)
    await ctx.close()
    await ledger.close()


def provide(app: web.Application) -> None:
    """Register checkout's providers before anything starts; they reach the checkout
    services when called (after start-up), so no service waits on another's order."""

    async def active(special_id: int) -> list[catalogue.DealStarted]:
        return await deals.active_deals(app[CHECKOUT_KEY], special_id)

    async def start_planned(start: DealStart) -> int | None:
        ctx = app[CHECKOUT_KEY]
        duration_s = planned_duration_s(start.ends_at, ctx.clock())
        if duration_s is None:
            return None  # caught up too late: the planned window is (almost) over
        deal = await deals.start_deal(
            ctx,
            special_id=start.special_id,
            product_id=start.product_id,
            discount_pct=start.discount_pct,
            duration_s=duration_s,
            quantity=start.quantity,
            per_buyer_limit=start.per_buyer_limit,
        )
        return deal.id

    app[ACTIVE_DEALS_KEY] = active
    app[DEAL_STARTER_KEY] = start_planned
