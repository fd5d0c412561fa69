"""Flash-deal services: start, end (early, at ``ends_at``, when sold out), list active ones.

Thin I/O around :mod:`pricing`: every transition is a conditional ``UPDATE``, so
two instances (or a host and the sweeper) ending the same deal end it once and
publish ``deal.ended`` once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.bus import catalogue
from livemarket.bus.events import special_topic
from livemarket.checkout.backend import Transaction
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.pricing import Deal, SpecialSlot, plan_deal
from livemarket.checkout.tables import deals, products, special_products, specials
from livemarket.errors import Conflict, DomainError, NotFound
from livemarket.scheduler.lifecycle import Status


def deal_from_row(row: Row[Any]) -> Deal:
    return Deal(
        id=row.id,
        special_id=row.special_id,
        product_id=row.product_id,
        discount_pct=row.discount_pct,
        original_price=row.original_price,
        price=row.price,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        quantity=row.quantity,
        sold=row.sold,
        per_buyer_limit=row.per_buyer_limit,
        ended_at=row.ended_at,
        ended_reason=row.ended_reason,
    )


async def special_host(conn: AsyncConnection, special_id: int) -> tuple[int, str]:
    """The special's host id and status, or ``special_not_found``."""
    row = (
        await conn.execute(
            select(specials.c.host_id, specials.c.status).where(specials.c.id == special_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("special_not_found", f"No special {special_id}.")
    return int(row.host_id), str(row.status)


async def _special_slot(conn: AsyncConnection, special_id: int) -> SpecialSlot:
    row = (
        await conn.execute(
            select(specials.c.status, specials.c.starts_at, specials.c.ends_at).where(
                specials.c.id == special_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("special_not_found", f"No special {special_id}.")
    return SpecialSlot(str(row.status), row.starts_at, row.ends_at)


async def start_deal(
    ctx: CheckoutContext,
    *,
    special_id: int,
    product_id: int,
    discount_pct: int,
    duration_s: int,
    quantity: int,
    per_buyer_limit: int = 5,
    created_by: int | None = None,
) -> Deal:
    """Start a flash deal now (server clock) and push ``deal.started`` to the special's viewers.

    Called by the studio's ``POST /api/v1/specials/{id}/deals`` (after its role check)
    and by the calendar runner for planned deals. Raises ``DomainError``:
    ``discount_over_cap`` (over ``settings.discount_cap_pct``), ``discount_invalid``,
    ``deal_duration_invalid``, ``deal_quantity_invalid``, ``deal_quantity_over_stock``,
    ``deal_limit_invalid``, ``special_not_found``, ``special_closed``, ``special_not_live``
    (too early), ``special_ending`` (no time left; a deal never outlives its special),
    ``product_not_in_special``, ``deal_already_active`` (one open deal per product).
    """
    now = ctx.clock()
    async with ctx.backend.writing() as tx:
        conn = tx.conn
        slot = await _special_slot(conn, special_id)
        price = (
            await conn.execute(
                select(products.c.price)
                .select_from(
                    products.join(special_products, special_products.c.product_id == products.c.id)
                )
                .where(products.c.id == product_id, special_products.c.special_id == special_id)
            )
        ).scalar()
        if price is None:
            raise DomainError("product_not_in_special", "the product is not in this special")
        await _end_due(ctx, tx, now, product_id=product_id)
        terms = plan_deal(
            special_id=special_id,
            product_id=product_id,
            original_price=int(price),
            stock=await ctx.backend.stock(conn, product_id),
            discount_pct=discount_pct,
            duration_s=duration_s,
            quantity=quantity,
            per_buyer_limit=per_buyer_limit,
            now=now,
            cap_pct=ctx.settings.discount_cap_pct,
            special=slot,
            early_minutes=ctx.settings.go_live_early_minutes,
        )
        try:
            row = (
                await conn.execute(
                    insert(deals)
                    .values(
                        special_id=terms.special_id,
                        product_id=terms.product_id,
                        discount_pct=terms.discount_pct,
                        original_price=terms.original_price,
                        price=terms.price,
                        starts_at=terms.starts_at,
                        ends_at=terms.ends_at,
                        quantity=terms.quantity,
                        sold=0,
                        per_buyer_limit=terms.per_buyer_limit,
                        created_by=created_by,
                        created_at=now,
                    )
                    .returning(*deals.c)
                )
            ).one()
        except IntegrityError as exc:
            raise Conflict(
                "deal_already_active", "this product already has a deal running"
            ) from exc
        deal = deal_from_row(row)
        await ctx.backend.open_deal(tx, deal)
    await ctx.bus.publish(special_topic(special_id), deal.started_event())
    return deal


async def end_deal(
    ctx: CheckoutContext, deal_id: int, reason: str = "ended", special_id: int | None = None
) -> Deal:
    """End a deal now; idempotent (an ended deal is returned as it is, nothing is pushed)."""
    now = ctx.clock()
    async with ctx.backend.writing() as tx:
        condition = [deals.c.id == deal_id]
        if special_id is not None:
            condition.append(deals.c.special_id == special_id)
        ended = await _close(ctx, tx, and_(*condition, deals.c.ended_at.is_(None)), now, reason)
        if not ended:
            row = (await tx.conn.execute(select(deals).where(*condition))).one_or_none()
            if row is None:
                raise NotFound("deal_not_found", f"No deal {deal_id} in this special.")
            return deal_from_row(row)
    await _announce_ended(ctx, ended)
    return ended[0]


#: A deal ends with its show: once its special has ended (or was called off), the
#: deal's price no longer applies (orders are credited only to a selling special).
FINISHED_SPECIALS = (Status.ENDED.value, Status.CANCELLED.value)


async def end_due_deals(ctx: CheckoutContext) -> list[Deal]:
    """End every deal past its ``ends_at``, and every deal still open in a finished special
    (reason ``show_ended``), so no page keeps counting down a price nobody can get. The
    sweeper calls this about every second."""
    async with ctx.backend.writing() as tx:
        now = ctx.clock()
        ended = await _end_due(ctx, tx, now)
        finished = select(specials.c.id).where(specials.c.status.in_(FINISHED_SPECIALS))
        condition = and_(deals.c.ended_at.is_(None), deals.c.special_id.in_(finished))
        ended += await _close(ctx, tx, condition, now, "show_ended")
    await _announce_ended(ctx, ended)
    return ended


async def _end_due(
    ctx: CheckoutContext, tx: Transaction, now: datetime, product_id: int | None = None
) -> list[Deal]:
    condition = and_(deals.c.ended_at.is_(None), deals.c.ends_at <= now)
    if product_id is not None:
        condition = and_(condition, deals.c.product_id == product_id)
    return await _close(ctx, tx, condition, now, "expired")


async def _close(
    ctx: CheckoutContext, tx: Transaction, condition: Any, now: datetime, reason: str
) -> list[Deal]:
    rows = (
        await tx.conn.execute(
            update(deals)
            .where(condition)
            .values(ended_at=now, ended_reason=reason)
            .returning(*deals.c)
        )
    ).all()
    await ctx.backend.close_deals(tx, rows)
    return [deal_from_row(row) for row in rows]


async def _announce_ended(ctx: CheckoutContext, ended: list[Deal]) -> None:
    for deal in ended:
        await ctx.bus.publish(
            special_topic(deal.special_id), deal.ended_event(deal.ended_reason or "ended")
        )


async def active_deals(ctx: CheckoutContext, special_id: int) -> list[catalogue.DealStarted]:
    """``deal.started``-shaped frames of the special's open deals (the realtime hello snapshot)."""
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(deals).where(
                    deals.c.special_id == special_id,
                    deals.c.ended_at.is_(None),
                    deals.c.ends_at > now,
                )
            )
        ).all()
    return [deal_from_row(row).started_event() for row in rows]


async def deals_of_special(ctx: CheckoutContext, special_id: int) -> list[Deal]:
    """Every deal of a special, newest first (studio and sales views)."""
    async with ctx.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(deals).where(deals.c.special_id == special_id).order_by(deals.c.id.desc())
            )
        ).all()
    return [deal_from_row(row) for row in rows]
