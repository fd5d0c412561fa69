"""Orders: reserve stock at the server's price, idempotently; pay, fulfil, cancel, expire.

The hot path (:func:`place_order`) prices the lines with :mod:`pricing` (pure),
takes the stock and writes the order, on one of three paths: on a SQLite file all
of it runs in batches on the writer thread (:mod:`sqlite_writer`); on PostgreSQL
with the Redis ledger prices come from a short-lived cache (:mod:`price_cache`),
the Lua script takes the stock and the order is group-committed (:mod:`pg_writer`);
otherwise prebuilt Core statements run in one transaction. With the Redis ledger
the stock is taken in Redis first and given back if the order cannot be written
(without the database: it may be what failed), and the database's own counters
move in the order's statement, so the database always holds the durable truth.

Refusals are cheap: a product refused for stock a moment ago is refused again
from :mod:`soldout` without asking the ledger, and the idempotency lookup every
refusal needs (a retried key gets its order back) is batched (:mod:`keys`), which
also makes two concurrent requests with one key answer with the same order.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.checkout.attribution import check_attribution
from livemarket.checkout.buyer import Buyer
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import deal_from_row, end_deal
from livemarket.checkout.ledger import CountersMissing, Hold, Remaining, deal_sold_out, sold_out
from livemarket.checkout.ledger_sql import SqlLedger, take_counts
from livemarket.checkout.payment import PaymentRequest
from livemarket.checkout.pg_writer import OrderWrite
from livemarket.checkout.pricing import iso_utc, unit_price
from livemarket.checkout.sqlite_writer import ORDER_COLUMNS, Earlier, WritePlan
from livemarket.checkout.states import CANCELLED, EXPIRED, PAID, RESERVED, check_transition
from livemarket.checkout.tables import deals, order_lines, orders, products, specials
from livemarket.errors import Conflict, DomainError, NotFound
from livemarket.storage.base import UTCDateTime

#: The database's counters, moved in the order's transaction when the ledger lives
#: elsewhere (Redis), so a lost Redis is rebuilt from figures that match the orders.
_DATABASE_COUNTERS = SqlLedger()

MAX_LINES = 20
log = logging.getLogger(__name__)
MAX_QUANTITY = 20
_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,100}$")


@dataclass(frozen=True)
class OrderItem:
    product_id: int
    quantity: int


def merge_items(items: Iterable[OrderItem]) -> list[OrderItem]:
    """Sum repeated products, check counts, sort by product id (a fixed lock order)."""
    totals: dict[int, int] = {}
    for item in items:
        totals[item.product_id] = totals.get(item.product_id, 0) + item.quantity
    if not 1 <= len(totals) <= MAX_LINES:
        raise DomainError("order_items_invalid", f"an order has 1 to {MAX_LINES} products")
    for product_id, quantity in totals.items():
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                "order_quantity_invalid",
                f"1 to {MAX_QUANTITY} units of one product per order",
                product_id=product_id,
            )
    return [OrderItem(pid, qty) for pid, qty in sorted(totals.items())]


def check_idempotency_key(key: str | None) -> str:
    """The ``Idempotency-Key`` header: required, 8-100 safe characters (a UUID fits)."""
    if not key or not _KEY.match(key):
        raise DomainError(
            "idempotency_key_invalid",
            "send an Idempotency-Key header of 8 to 100 letters, digits or ._:-",
        )
    return key


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    quantity: int
    unit_price: int
    list_price: int
    deal_id: int | None
    deal_special_id: int | None
    per_buyer_limit: int

    def hold(self) -> Hold:
        return Hold(self.product_id, self.quantity, self.deal_id, self.per_buyer_limit)

    def row(self) -> tuple[int, int, int, int, int | None]:
        return (self.product_id, self.quantity, self.unit_price, self.list_price, self.deal_id)


@dataclass(frozen=True)
class PlacedOrder:
    order: dict[str, Any]
    created: bool


def _price_lines(
    rows: Sequence[Row[Any]], items: list[OrderItem], now: datetime
) -> list[PricedLine]:
    found = {row.product_id: row for row in rows}
    lines = []
    for item in items:
        row = found.get(item.product_id)
        if row is None:
            raise NotFound(
                "product_not_found", f"No product {item.product_id}.", product_id=item.product_id
            )
        deal = deal_from_row(row) if row.id is not None else None
        price, deal_id = unit_price(row.list_price, deal, now, row.special_status)
        lines.append(
            PricedLine(
                item.product_id,
                item.quantity,
                price,
                row.list_price,
                deal_id,
                deal.special_id if deal and deal_id else None,
                deal.per_buyer_limit if deal and deal_id else 0,
            )
        )
    return lines


def _refuse_if_short(rows: Sequence[Any], lines: Sequence[PricedLine]) -> None:
    """Refuse at once what the database already shows as gone (when it holds the counters).

    Only a shortcut: a line that passes is still taken atomically by the ledger.
    """
    found = {row.product_id: row for row in rows}
    for line in lines:
        row = found[line.product_id]
        if line.deal_id is not None and row.sold + line.quantity > row.quantity:
            raise deal_sold_out(line.product_id, line.deal_id)
        if row.stock < line.quantity:
            raise sold_out(line.product_id)


# Built once: constructing a statement costs more than running it on the hot path.
_PRICES = (
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


async def _insert_order(
    conn: AsyncConnection, draft: dict[str, Any], lines: Sequence[PricedLine]
) -> int:
    """Write the order and its lines (one round trip on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        written = await conn.execute(
            _PG_INSERT,
            {
                **draft,
                "product_ids": [line.product_id for line in lines],
                "quantities": [line.quantity for line in lines],
                "unit_prices": [line.unit_price for line in lines],
                "list_prices": [line.list_price for line in lines],
                "deal_ids": [line.deal_id for line in lines],
            },
        )
        first = written.scalars().first()
        if first is None:  # an order has at least one line, so a row always comes back
            raise RuntimeError("order insert returned no line")
        return int(first)
    order_id = (
        await conn.execute(insert(orders).values(**draft).returning(orders.c.id))
    ).scalar_one()
    await conn.execute(
        insert(order_lines),
        [
            {
                "order_id": order_id,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "list_price": line.list_price,
                "deal_id": line.deal_id,
            }
            for line in lines
        ],
    )
    return int(order_id)


async def _existing(conn: AsyncConnection, key: str) -> int | None:
    found = (
        await conn.execute(select(orders.c.id).where(orders.c.idempotency_key == key))
    ).scalar()
    return None if found is None else int(found)


async def place_order(
    ctx: CheckoutContext,
    *,
    buyer_key: str,
    idempotency_key: str,
    items: Iterable[OrderItem],
    buyer: Buyer,
    special_id: int | None = None,
    payment_method: str = "bank_transfer",
) -> PlacedOrder:
    """Reserve and record an order priced by the server now; a retried key returns the same one.

    Refusals (409): ``sold_out``, ``deal_sold_out``, ``deal_ended``, ``deal_limit_reached``;
    (422) ``order_items_invalid``, ``order_quantity_invalid``, ``payment_method_invalid``,
    ``special_not_selling``, ``product_not_in_special`` (an order credited to a special);
    (404) ``product_not_found``, ``special_not_found``. A refusal takes no stock.
    """
    merged = merge_items(items)
    if payment_method not in ctx.payments.methods:
        raise DomainError("payment_method_invalid", f"pay by {', '.join(ctx.payments.methods)}")
    request = _Request(
        f"{buyer_key}:{idempotency_key}", buyer_key, merged, buyer, special_id, payment_method
    )
    # A twin with the same key waits here, then finds the order its twin wrote.
    async with ctx.keys.hold(request.key):
        now = ctx.clock()
        since = ctx.sold_out.generation
        short = ctx.sold_out.refusal(merged, now)
        fresh = short is None  # a refusal from the ledger, not from the memo
        try:
            if special_id is not None:  # credited to a special: it must be selling these
                window = await ctx.sale_windows.get(ctx.engine, special_id, now)
                check_attribution(
                    window, (i.product_id for i in merged), now, ctx.settings.go_live_early_minutes
                )
            if short is None:
                placed = await _place(ctx, request, now)
                if placed.created:  # stock was there: a probe's product sells again
                    ctx.keys.stored(request.key)
                    ctx.sold_out.sold(item.product_id for item in merged)
                return placed
            raise sold_out(short)  # known sold out a moment ago: no ledger call
        except DomainError as exc:
            if exc.code not in _REFUSALS and exc.code not in _ATTRIBUTION_REFUSALS:
                raise
            if fresh:  # the memo's window runs from the ledger's word, never extended
                _remember(ctx, exc, merged, now, since)
            earlier = await ctx.keys.find(request.key)
            if earlier is None:
                raise
        # A retry of an accepted order that is now refused for stock: the same order.
        return PlacedOrder(await _same_request(ctx, earlier, merged), created=False)


#: Stock refusals: a retried key must still get its earlier order instead.
_REFUSALS = frozenset({"sold_out", "deal_sold_out", "deal_ended", "deal_limit_reached"})
#: So must a retry whose special has stopped selling since the order was accepted.
_ATTRIBUTION_REFUSALS = frozenset({"special_not_selling"})


@dataclass(frozen=True)
class _Request:
    key: str
    buyer_key: str
    items: list[OrderItem]
    buyer: Buyer
    special_id: int | None
    payment_method: str


def _remember(
    ctx: CheckoutContext, exc: DomainError, items: list[OrderItem], now: datetime, since: int
) -> None:
    """Note a sell-out for the fast refusal path; an ended deal's prices are read again."""
    product_id = exc.details.get("product_id")
    if exc.code == "deal_ended" and isinstance(product_id, int):
        ctx.prices_changed([product_id])
    if exc.code != "sold_out" or not isinstance(product_id, int):
        return
    quantity = next((i.quantity for i in items if i.product_id == product_id), None)
    if quantity is not None:
        ctx.sold_out.note(product_id, quantity, now, since)


async def _place(ctx: CheckoutContext, req: _Request, now: datetime) -> PlacedOrder:
    """Price, reserve and write on the backend's path; refusals raise (``DomainError``)."""
    product_ids = [item.product_id for item in req.items]
    lines: list[PricedLine] = []
    draft: dict[str, Any] = {}

    def plan(rows: Sequence[Any]) -> WritePlan:
        nonlocal lines, draft
        lines = _price_lines(rows, req.items, now)
        if ctx.ledger.transactional:
            _refuse_if_short(rows, lines)  # a sold-out item costs no write
        sid = req.special_id or next(
            (ln.deal_special_id for ln in lines if ln.deal_special_id), None
        )
        draft = _draft(ctx, req, sid, lines, now)
        return WritePlan([ln.hold() for ln in lines], draft, [ln.row() for ln in lines])

    if ctx.order_writer is not None and ctx.ledger.transactional:
        # SQLite: read, plan, take and write in one transaction on the writer thread.
        try:  # the writer takes the writers' lock for each batch
            outcome = await ctx.order_writer.order(product_ids, req.key, req.buyer_key, now, plan)
        except IntegrityError as exc:
            raise NotFound("special_not_found", f"No special {req.special_id}.") from exc
        if isinstance(outcome, Earlier):
            return PlacedOrder(await _same_request(ctx, outcome.order_id, req.items), False)
        remaining, order_id = outcome.remaining, outcome.order_id
    elif ctx.batch_writer is not None:
        # PostgreSQL + Redis: cached prices, the Lua reservation, then a group-committed write.
        written = plan(await _prices(ctx, product_ids, now))
        try:
            remaining = await ctx.ledger.reserve(None, req.buyer_key, written.holds, now)
        except CountersMissing:  # first use of a product or deal: load it from the tables
            remaining = await _reserve_loading(ctx, req.buyer_key, written.holds, now)
        stored = await _batch_write(ctx, req, written, remaining[0].epoch)
        if isinstance(stored, Earlier):
            return PlacedOrder(await _same_request(ctx, stored.order_id, req.items), False)
        order_id = stored
    else:
        # One connection for the read and the write, and no second one while it is held.
        async with ctx.engine.connect() as conn:
            rows = (await conn.execute(_PRICES, {"ids": product_ids})).all()
            try:
                written = plan(rows)
                remaining, order_id = await _write(ctx, conn, req.buyer_key, now, written, lines)
            except IntegrityError as exc:
                await conn.rollback()  # PostgreSQL aborted the transaction
                earlier = await _existing(conn, req.key)
                await conn.rollback()
                if earlier is None:
                    raise NotFound("special_not_found", f"No special {req.special_id}.") from exc
                return PlacedOrder(await _same_request(ctx, earlier, req.items), False)
            except DomainError:
                await conn.rollback()
                raise
    await _after_reservation(ctx, draft["special_id"], lines, remaining)
    payment = ctx.payments.instructions(
        PaymentRequest(order_id, draft["total"], req.payment_method)
    )
    return PlacedOrder(_new_order_view(order_id, draft, lines, payment), created=True)


async def _reserve_loading(
    ctx: CheckoutContext, buyer_key: str, holds: Sequence[Hold], now: datetime
) -> list[Remaining]:
    """Reserve when Redis lacks a counter: one loader at a time (after a Redis restart a
    crowd would otherwise take a database connection each); the others find it loaded."""
    async with ctx.loading_counters:
        try:
            return await ctx.ledger.reserve(None, buyer_key, holds, now)
        except CountersMissing:
            async with ctx.engine.connect() as conn:
                return await ctx.ledger.reserve(conn, buyer_key, holds, now)


async def _prices(ctx: CheckoutContext, product_ids: list[int], now: datetime) -> Sequence[Any]:
    """The price rows, from the short-lived cache when it has them all (one read per miss)."""
    rows = ctx.prices.get(product_ids, now)
    if rows is not None:
        return rows
    wanted = tuple(product_ids)
    loading = ctx.prices.loading.get(wanted)
    if loading is not None:  # someone is reading these already: share the answer
        return await asyncio.shield(loading)
    loading = ctx.prices.loading[wanted] = asyncio.get_running_loop().create_future()
    since = ctx.prices.generation
    try:
        async with ctx.engine.connect() as conn:
            rows = list((await conn.execute(_PRICES, {"ids": product_ids})).all())
        ctx.prices.put(rows, now, since)
        loading.set_result(rows)
    except Exception as exc:
        loading.set_exception(exc)
        loading.exception()  # retrieved: nobody else may be waiting
        raise
    except BaseException:
        loading.cancel()
        raise
    finally:
        del ctx.prices.loading[wanted]
    return rows


async def _batch_write(
    ctx: CheckoutContext, req: _Request, plan: WritePlan, epoch: str | None
) -> int | Earlier:
    """Write through the group-commit writer; the Redis units go back unless it was written."""
    assert ctx.batch_writer is not None
    future = ctx.batch_writer.submit(OrderWrite(plan.order, plan.lines))
    try:
        outcome: int | Earlier = await asyncio.shield(future)
    except asyncio.CancelledError:
        # The batch decides anyway: wait for its answer so written units are not given back.
        await asyncio.wait([future])
        if (
            future.cancelled()
            or future.exception() is not None
            or not isinstance(future.result(), int)
        ):
            await asyncio.shield(_give_back(ctx, req.buyer_key, plan.holds, epoch))
        raise
    except Exception as exc:
        await asyncio.shield(_give_back(ctx, req.buyer_key, plan.holds, epoch))
        if isinstance(exc, IntegrityError):
            raise _refusal_of(exc, req, plan.holds) from exc
        raise
    if isinstance(outcome, Earlier):  # a retry: this request's units go back
        await asyncio.shield(_give_back(ctx, req.buyer_key, plan.holds, epoch))
    return outcome


def _refusal_of(exc: IntegrityError, req: _Request, holds: Sequence[Hold]) -> DomainError:
    """What the database refused: a unit it does not have (its counters' CHECKs: Redis
    let more go than the orders allow, as after a lost Redis), else the special."""
    text = str(exc.orig)
    if "ck_flash_deals_sold" in text:
        hold = next((h for h in holds if h.deal_id is not None), holds[0])
        return deal_sold_out(hold.product_id, hold.deal_id or 0)
    if "ck_products_stock" in text:
        return sold_out(holds[0].product_id)
    return NotFound("special_not_found", f"No special {req.special_id}.")


def _draft(
    ctx: CheckoutContext,
    req: _Request,
    special_id: int | None,
    lines: Sequence[PricedLine],
    now: datetime,
) -> dict[str, Any]:
    """The ``orders`` row to insert."""
    return {
        "idempotency_key": req.key,
        "buyer_key": req.buyer_key,
        "special_id": special_id,
        "status": RESERVED,
        "buyer_name": req.buyer.name,
        "buyer_phone": req.buyer.phone,
        "buyer_address": req.buyer.address,
        "total": sum(line.unit_price * line.quantity for line in lines),
        "payment_method": req.payment_method,
        "hold_expires_at": now + timedelta(minutes=ctx.settings.order_hold_minutes),
        "created_at": now,
    }


async def _write(
    ctx: CheckoutContext,
    conn: AsyncConnection,
    buyer_key: str,
    now: datetime,
    plan: WritePlan,
    lines: Sequence[PricedLine],
) -> tuple[list[Remaining], int]:
    """Take the stock and insert the order, all or nothing (the Core-statement path)."""
    if not conn.in_transaction():
        await conn.begin()
    # A refusal leaves the rollback to the caller (it looks the key up first).
    remaining = await ctx.ledger.reserve(conn, buyer_key, plan.holds, now)
    try:
        if not ctx.ledger.transactional:  # the database's counters move with the order
            await take_counts(conn, plan.holds)
        order_id = await _insert_order(conn, plan.order, lines)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        if not ctx.ledger.transactional:  # Redis took the units already: give them back
            epoch = remaining[0].epoch if remaining else None
            await asyncio.shield(_give_back(ctx, buyer_key, plan.holds, epoch))
        raise
    return remaining, order_id


def _line_view(line: Any) -> dict[str, Any]:
    """The contract's order line, from a just-priced line or a stored row (same fields)."""
    return {
        "product_id": line.product_id,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "list_price": line.list_price,
        "deal_id": line.deal_id,
    }


def _new_order_view(
    order_id: int, draft: dict[str, Any], lines: Sequence[PricedLine], payment: dict[str, str]
) -> dict[str, Any]:
    """The contract's order shape for an order just written (no second read)."""
    return {
        "id": order_id,
        "status": RESERVED,
        "special_id": draft["special_id"],
        "lines": [_line_view(line) for line in lines],
        "total": draft["total"],
        "buyer": {
            "name": draft["buyer_name"],
            "phone": draft["buyer_phone"],
            "address": draft["buyer_address"],
        },
        "hold_expires_at": iso_utc(draft["hold_expires_at"]),
        "created_at": iso_utc(draft["created_at"]),
        "paid_at": None,
        "payment": payment,
        "payment_ref": None,
        "notes": [],
    }


async def _same_request(
    ctx: CheckoutContext, order_id: int, items: list[OrderItem]
) -> dict[str, Any]:
    """The earlier order of a retried key; a different request under the same key is refused."""
    view = await get_order(ctx, order_id)
    earlier = [OrderItem(line["product_id"], line["quantity"]) for line in view["lines"]]
    if sorted(earlier, key=lambda i: i.product_id) != items:
        raise Conflict(
            "idempotency_key_reused", "this Idempotency-Key was used for a different order"
        )
    return view


async def _give_back(
    ctx: CheckoutContext, buyer_key: str, holds: Sequence[Hold], epoch: str | None = None
) -> list[Remaining]:
    """Units back into a ledger outside the database, without the database (it may be
    what failed); a failure here leaves drift the ledger's reconciliation repairs."""
    try:
        left = await ctx.ledger.release(None, buyer_key, holds, epoch=epoch)
    except Exception:
        log.warning("could not give %d line(s) back to the stock ledger", len(holds), exc_info=True)
        return []
    ctx.stock_returned(hold.product_id for hold in holds)
    return left


async def _after_reservation(
    ctx: CheckoutContext,
    special_id: int | None,
    lines: Sequence[PricedLine],
    remaining: Sequence[Remaining],
) -> None:
    """Push the new counts; end a deal whose last unit just went (the sweeper would too)."""
    ctx.pusher.note(special_id, remaining)
    for line, left in zip(lines, remaining, strict=True):
        if line.deal_id is not None and left.deal_remaining == 0:
            await end_deal(ctx, line.deal_id, "sold_out")


async def get_order(ctx: CheckoutContext, order_id: int) -> dict[str, Any]:
    """The order as the contract shapes it, with a note when a deal ended but its price holds."""
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).one_or_none()
        if row is None:
            raise NotFound("order_not_found", f"No order {order_id}.")
        lines = (
            await conn.execute(
                select(order_lines, deals.c.ended_at.label("deal_ended_at"), deals.c.ends_at)
                .select_from(order_lines.outerjoin(deals, deals.c.id == order_lines.c.deal_id))
                .where(order_lines.c.order_id == order_id)
                .order_by(order_lines.c.product_id)
            )
        ).all()
    return order_view(
        row,
        lines,
        ctx.clock(),
        ctx.payments.instructions(PaymentRequest(row.id, row.total, row.payment_method)),
    )


def order_view(
    row: Row[Any], lines: Sequence[Row[Any]], now: datetime, payment: dict[str, str]
) -> dict[str, Any]:
    notes = []
    deal_over = any(
        line.deal_id is not None and (line.deal_ended_at is not None or line.ends_at <= now)
        for line in lines
    )
    if row.status == RESERVED and deal_over:
        notes.append(
            {
                "code": "deal_price_held",
                "message": "The deal has ended; your deal price is kept until the hold ends.",
                "until": iso_utc(row.hold_expires_at),
            }
        )
    return {
        "id": row.id,
        "status": row.status,
        "special_id": row.special_id,
        "lines": [_line_view(line) for line in lines],
        "total": row.total,
        "buyer": {"name": row.buyer_name, "phone": row.buyer_phone, "address": row.buyer_address},
        "hold_expires_at": iso_utc(row.hold_expires_at),
        "created_at": iso_utc(row.created_at),
        "paid_at": iso_utc(row.paid_at) if row.paid_at else None,
        "payment": payment,
        "payment_ref": row.payment_ref,
        "notes": notes,
    }


async def order_buyer(ctx: CheckoutContext, order_id: int) -> str:
    """Whose order it is (for the access check), or ``order_not_found``."""
    async with ctx.engine.connect() as conn:
        found = (
            await conn.execute(select(orders.c.buyer_key).where(orders.c.id == order_id))
        ).scalar()
    if found is None:
        raise NotFound("order_not_found", f"No order {order_id}.")
    return str(found)


async def change_status(
    ctx: CheckoutContext, order_id: int, target: str, *, reference: str = ""
) -> dict[str, Any]:
    """Move an order to ``target``; repeating a move is a no-op (idempotent confirmation).

    ``paid`` asks the payment provider to confirm; ``cancelled`` gives the stock back.
    """
    now = ctx.clock()
    released: list[Remaining] = []
    holds: list[Hold] = []
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).one_or_none()
    if row is None:
        raise NotFound("order_not_found", f"No order {order_id}.")
    if not check_transition(row.status, target):  # already there: idempotent
        return await get_order(ctx, order_id)
    values: dict[str, Any] = {"status": target}
    if target == PAID:  # the provider may do network I/O: never under the writers' lock
        request = PaymentRequest(row.id, row.total, row.payment_method)
        values.update(paid_at=now, payment_ref=await ctx.payments.confirm(request, reference))
    async with ctx.writing() as conn:
        # Conditional on the status read above: of two racing moves, one wins.
        changed = (
            await conn.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.status == row.status)
                .values(**values)
            )
        ).rowcount
        if not changed:
            raise Conflict("order_changed", "the order changed meanwhile; reload it")
        if target in (CANCELLED, EXPIRED):
            holds = (await _holds_of(conn, [order_id]))[order_id]
            released = await _database_release(ctx, conn, row.buyer_key, holds)
    if holds and not ctx.ledger.transactional:
        released = await _give_back(ctx, row.buyer_key, holds)
    ctx.stock_returned(hold.product_id for hold in holds)
    ctx.pusher.note(row.special_id, released)
    return await get_order(ctx, order_id)


async def _database_release(
    ctx: CheckoutContext, conn: AsyncConnection, buyer_key: str, holds: Sequence[Hold]
) -> list[Remaining]:
    """Give units back in the database's counters, in ``conn``'s transaction (with a
    ledger outside the database, its counters follow after the commit)."""
    if ctx.ledger.transactional:
        return await ctx.ledger.release(conn, buyer_key, holds)
    return await _DATABASE_COUNTERS.release(conn, buyer_key, holds)


async def _holds_of(conn: AsyncConnection, order_ids: list[int]) -> dict[int, list[Hold]]:
    rows = (
        await conn.execute(
            select(
                order_lines.c.order_id,
                order_lines.c.product_id,
                order_lines.c.quantity,
                order_lines.c.deal_id,
            )
            .where(order_lines.c.order_id.in_(order_ids))
            .order_by(order_lines.c.product_id)
        )
    ).all()
    holds: dict[int, list[Hold]] = {order_id: [] for order_id in order_ids}
    for row in rows:
        holds[row.order_id].append(Hold(row.product_id, row.quantity, row.deal_id))
    return holds


async def expire_due_holds(ctx: CheckoutContext, batch: int = 500) -> int:
    """Expire unpaid orders past their hold and give their stock back; returns how many."""
    now = ctx.clock()
    due = (
        select(orders.c.id)
        .where(orders.c.status == RESERVED, orders.c.hold_expires_at <= now)
        .limit(batch)
        .scalar_subquery()
    )
    released: list[tuple[int | None, list[Remaining]]] = []
    async with ctx.writing() as conn:
        rows = (
            await conn.execute(
                update(orders)
                .where(orders.c.id.in_(due), orders.c.status == RESERVED)
                .values(status=EXPIRED)
                .returning(orders.c.id, orders.c.buyer_key, orders.c.special_id)
            )
        ).all()
        if not rows:
            return 0
        holds = await _holds_of(conn, [row.id for row in rows])
        for row in rows:
            left = await _database_release(ctx, conn, row.buyer_key, holds[row.id])
            released.append((row.special_id, left))
    if not ctx.ledger.transactional:
        released = [
            (row.special_id, await _give_back(ctx, row.buyer_key, holds[row.id])) for row in rows
        ]
    ctx.stock_returned(hold.product_id for found in holds.values() for hold in found)
    for special_id, left in released:
        ctx.pusher.note(special_id, left)
    return len(rows)
