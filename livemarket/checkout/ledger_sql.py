"""The SQL stock ledger: conditional ``UPDATE … RETURNING`` in the order's transaction.

``stock = stock - q WHERE stock >= q`` is atomic in SQLite (one writer at a
time) and in PostgreSQL (the row lock makes the second writer re-check the
condition after the first commits), so no read-then-write race exists. The
per-buyer deal limit is an upsert guarded the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.checkout.ledger import (
    CountersMissing,
    Hold,
    Remaining,
    deal_ended,
    deal_sold_out,
    limit_reached,
    sold_out,
)
from livemarket.checkout.tables import deal_buyers, deals, products


class SqlLedger:
    """Stock counters live in ``products.stock``, ``flash_deals.sold`` and ``deal_buyers``."""

    transactional = True

    async def reserve(
        self, conn: AsyncConnection | None, buyer_key: str, holds: Sequence[Hold], now: datetime
    ) -> list[Remaining]:
        # Raising leaves the caller's transaction to roll back: nothing half-taken survives.
        if conn is None:
            raise CountersMissing("the SQL ledger works inside the order's transaction")
        out = []
        for hold in holds:
            deal_left: int | None = None
            if hold.deal_id is not None:
                deal_left = await self._take_deal(conn, buyer_key, hold, now)
            stock = (
                await conn.execute(
                    update(products)
                    .where(products.c.id == hold.product_id, products.c.stock >= hold.quantity)
                    .values(stock=products.c.stock - hold.quantity)
                    .returning(products.c.stock)
                )
            ).scalar()
            if stock is None:
                raise sold_out(hold.product_id)
            out.append(Remaining(hold.product_id, stock, hold.deal_id, deal_left))
        return out

    async def _take_deal(
        self, conn: AsyncConnection, buyer_key: str, hold: Hold, now: datetime
    ) -> int:
        assert hold.deal_id is not None
        left = (
            await conn.execute(
                update(deals)
                .where(
                    deals.c.id == hold.deal_id,
                    deals.c.ended_at.is_(None),
                    deals.c.ends_at > now,
                    deals.c.sold + hold.quantity <= deals.c.quantity,
                )
                .values(sold=deals.c.sold + hold.quantity)
                .returning(deals.c.quantity - deals.c.sold)
            )
        ).scalar()
        if left is None:
            row = (
                await conn.execute(
                    select(deals.c.ended_at, deals.c.ends_at).where(deals.c.id == hold.deal_id)
                )
            ).one_or_none()
            if row is None or row.ended_at is not None or row.ends_at <= now:
                raise deal_ended(hold.product_id, hold.deal_id)
            raise deal_sold_out(hold.product_id, hold.deal_id)
        insert = _insert_for(conn)
        units = (
            await conn.execute(
                insert(deal_buyers)
                .values(deal_id=hold.deal_id, buyer_key=buyer_key, units=hold.quantity)
                .on_conflict_do_update(
                    index_elements=[deal_buyers.c.deal_id, deal_buyers.c.buyer_key],
                    set_={"units": deal_buyers.c.units + hold.quantity},
                    where=deal_buyers.c.units + hold.quantity <= hold.per_buyer_limit,
                )
                .returning(deal_buyers.c.units)
            )
        ).scalar()
        if units is None or units > hold.per_buyer_limit:
            had = await self._buyer_units(conn, hold.deal_id, buyer_key)
            raise limit_reached(hold.product_id, hold.per_buyer_limit, had)
        return int(left)

    async def _buyer_units(self, conn: AsyncConnection, deal_id: int, buyer_key: str) -> int:
        units = (
            await conn.execute(
                select(deal_buyers.c.units).where(
                    deal_buyers.c.deal_id == deal_id, deal_buyers.c.buyer_key == buyer_key
                )
            )
        ).scalar()
        return int(units or 0)

    async def release(
        self,
        conn: AsyncConnection | None,
        buyer_key: str,
        holds: Sequence[Hold],
        *,
        epoch: str | None = None,
    ) -> list[Remaining]:
        if conn is None:
            raise CountersMissing("the SQL ledger works inside the order's transaction")
        out = []
        for hold in holds:
            stock = (
                await conn.execute(
                    update(products)
                    .where(products.c.id == hold.product_id)
                    .values(stock=products.c.stock + hold.quantity)
                    .returning(products.c.stock)
                )
            ).scalar_one()
            left = None
            if hold.deal_id is not None:
                left = (
                    await conn.execute(
                        update(deals)
                        .where(deals.c.id == hold.deal_id, deals.c.sold >= hold.quantity)
                        .values(sold=deals.c.sold - hold.quantity)
                        .returning(deals.c.quantity - deals.c.sold)
                    )
                ).scalar()
                await conn.execute(
                    update(deal_buyers)
                    .where(
                        deal_buyers.c.deal_id == hold.deal_id,
                        deal_buyers.c.buyer_key == buyer_key,
                        deal_buyers.c.units >= hold.quantity,
                    )
                    .values(units=deal_buyers.c.units - hold.quantity)
                )
            out.append(Remaining(hold.product_id, stock, hold.deal_id, left))
        return out

    async def open_deal(
        self, conn: AsyncConnection, deal_id: int, quantity: int, ends_at: datetime
    ) -> None:
        return None  # the flash_deals row is the counter

    async def close_deal(self, conn: AsyncConnection, deal_id: int) -> None:
        return None  # ``ended_at`` set on the row closes it

    async def stock(self, conn: AsyncConnection, product_id: int) -> int:
        value = (
            await conn.execute(select(products.c.stock).where(products.c.id == product_id))
        ).scalar()
        return int(value or 0)

    async def set_stock(self, conn: AsyncConnection, product_id: int, stock: int) -> None:
        await conn.execute(update(products).where(products.c.id == product_id).values(stock=stock))

    async def reconcile(self, conn: AsyncConnection) -> list[str]:
        return []  # the database holds the counters

    async def close(self) -> None:
        return None


def _insert_for(conn: AsyncConnection) -> Callable[..., Any]:
    """The dialect's ``INSERT … ON CONFLICT`` construct (both support the same form)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def take_counts(conn: AsyncConnection, holds: Sequence[Hold]) -> None:
    """Move the database's counters for an order another ledger (Redis) already admitted.

    Only the counts are checked (stock left, deal units left): the deal's window and
    the buyer's limit were the admitting ledger's to judge at reservation, and an
    order admitted just before its deal ended keeps its price. Raises ``sold_out`` or
    ``deal_sold_out`` when the database has fewer units than Redis believed."""
    for hold in holds:
        if hold.deal_id is not None:
            taken = (
                await conn.execute(
                    update(deals)
                    .where(
                        deals.c.id == hold.deal_id, deals.c.sold + hold.quantity <= deals.c.quantity
                    )
                    .values(sold=deals.c.sold + hold.quantity)
                )
            ).rowcount
            if not taken:
                raise deal_sold_out(hold.product_id, hold.deal_id)
        taken = (
            await conn.execute(
                update(products)
                .where(products.c.id == hold.product_id, products.c.stock >= hold.quantity)
                .values(stock=products.c.stock - hold.quantity)
            )
        ).rowcount
        if not taken:
            raise sold_out(hold.product_id)
