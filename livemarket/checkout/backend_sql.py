"""The transaction backend: price, take and write an order with Core statements in one
transaction. Used for every pairing that is neither embedded nor PostgreSQL + Redis
(PostgreSQL with the SQL ledger, an in-memory SQLite, SQLite with the Redis ledger).

With the Redis ledger the stock is taken in Redis first and given back if the order
cannot be written (without the database: it may be what failed), and the database's
own counters move in the order's statement, so the database holds the durable truth.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import and_, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.checkout.backend import CheckoutBackend, OrderRequest
from livemarket.checkout.ledger import Remaining
from livemarket.checkout.ledger_sql import take_counts
from livemarket.checkout.sqlite_writer import ORDER_COLUMNS, Earlier, Planner, WritePlan, Written
from livemarket.checkout.tables import deals, order_lines, orders, products, specials
from livemarket.errors import DomainError, NotFound
from livemarket.storage.base import UTCDateTime

# Built once: constructing a statement costs more than running it on the hot path.
PRICES = (
    select(
        products.c.id.label("product_id"),
        products.c.price.label("list_price"),
        products.c.stock.label("stock"),
        deals,
        specials.c.status.label("special_status"),
    )
    .select_from(
        products.outerjoin(
            deals, and_(deals.c.product_id == products.c.id, deals.c.ended_at.is_(None))
        ).outerjoin(specials, specials.c.id == deals.c.special_id)
    )
    .where(products.c.id.in_(bindparam("ids", expanding=True)))
)

# PostgreSQL: the order and all its lines in one round trip (a data-modifying CTE).
_PG_INSERT = text(
    "WITH new_order AS (INSERT INTO orders ("
    + ", ".join(ORDER_COLUMNS)
    + ") VALUES ("
    + ", ".join(f":{name}" for name in ORDER_COLUMNS)
    + ") RETURNING id) "
    "INSERT INTO order_lines (order_id, product_id, quantity, unit_price, list_price, deal_id) "
    "SELECT new_order.id, l.product_id, l.quantity, l.unit_price, l.list_price, l.deal_id "
    "FROM new_order, unnest(CAST(:product_ids AS integer[]), CAST(:quantities AS integer[]), "
    "CAST(:unit_prices AS integer[]), CAST(:list_prices AS integer[]), "
    "CAST(:deal_ids AS integer[])) AS l(product_id, quantity, unit_price, list_price, deal_id) "
    "RETURNING order_id"
).bindparams(
    bindparam("hold_expires_at", type_=UTCDateTime()),
    bindparam("created_at", type_=UTCDateTime()),
)
_LINE_FIELDS = ("product_id", "quantity", "unit_price", "list_price", "deal_id")


async def _insert_order(conn: AsyncConnection, plan: WritePlan) -> int:
    """Write the order and its lines (one round trip on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        product_ids, quantities, unit_prices, list_prices, deal_ids = zip(*plan.lines, strict=True)
        written = await conn.execute(
            _PG_INSERT,
            {
                **plan.order,
                "product_ids": list(product_ids),
                "quantities": list(quantities),
                "unit_prices": list(unit_prices),
                "list_prices": list(list_prices),
                "deal_ids": list(deal_ids),
            },
        )
        first = written.scalars().first()
        if first is None:  # an order has at least one line, so a row always comes back
            raise RuntimeError("order insert returned no line")
        return int(first)
    order_id = (
        await conn.execute(insert(orders).values(**plan.order).returning(orders.c.id))
    ).scalar_one()
    await conn.execute(
        insert(order_lines),
        [
            {"order_id": order_id, **dict(zip(_LINE_FIELDS, line, strict=True))}
            for line in plan.lines
        ],
    )
    return int(order_id)


async def _existing(conn: AsyncConnection, key: str) -> int | None:
    found = (
        await conn.execute(select(orders.c.id).where(orders.c.idempotency_key == key))
    ).scalar()
    return None if found is None else int(found)


class TransactionBackend(CheckoutBackend):
    """One connection for the price read and the write, and no second one while it is held."""

    async def _reserve_and_write(
        self, req: OrderRequest, now: datetime, plan: Planner
    ) -> Written | Earlier:
        product_ids = [item.product_id for item in req.items]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(PRICES, {"ids": product_ids})).all()
            try:
                written = plan(rows)
                remaining, order_id = await self._write(conn, req.buyer_key, now, written)
            except IntegrityError as exc:
                await conn.rollback()  # PostgreSQL aborted the transaction
                earlier = await _existing(conn, req.key)
                await conn.rollback()
                if earlier is None:
                    raise NotFound("special_not_found", f"No special {req.special_id}.") from exc
                return Earlier(earlier)
            except DomainError:
                await conn.rollback()
                raise
        return Written(remaining, order_id)

    async def _write(
        self, conn: AsyncConnection, buyer_key: str, now: datetime, plan: WritePlan
    ) -> tuple[list[Remaining], int]:
        """Take the stock and insert the order, all or nothing."""
        if not conn.in_transaction():
            await conn.begin()
        # A refusal leaves the rollback to the caller (it looks the key up first).
        remaining = await self.ledger.reserve(conn, buyer_key, plan.holds, now)
        try:
            if not self.ledger.transactional:  # the database's counters move with the order
                await take_counts(conn, plan.holds)
            order_id = await _insert_order(conn, plan)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            if not self.ledger.transactional:  # Redis took the units already: give them back
                epoch = remaining[0].epoch if remaining else None
                await asyncio.shield(self.give_back(buyer_key, plan.holds, epoch))
            raise
        return remaining, order_id
