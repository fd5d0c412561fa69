"""Orders: reserve stock at the server's price, idempotently; pay, fulfil, cancel, expire.

The rules only: :func:`place_order` checks the request, prices the lines with
:mod:`pricing` (pure) and decides what to write; how the stock is taken and the
order written, and every cache making that cheap, belong to the backend chosen at
start (:mod:`backend`: embedded SQLite, PostgreSQL + Redis, or one transaction).

Refusals are cheap: a product refused for stock a moment ago is refused again
from the backend's sold-out memo without asking the ledger, and the idempotency
lookup every refusal needs (a retried key gets its order back) is batched
(:mod:`keys`), which also makes two concurrent requests with one key answer with
the same order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from livemarket.checkout.attribution import check_attribution
from livemarket.checkout.backend import OrderRequest
from livemarket.checkout.buyer import Buyer
from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import deal_from_row, end_deal
from livemarket.checkout.ledger import Hold, Remaining, deal_sold_out, sold_out
from livemarket.checkout.payment import PaymentRequest
from livemarket.checkout.pricing import iso_utc, unit_price
from livemarket.checkout.soldout import SoldOutCheck
from livemarket.checkout.sqlite_writer import Earlier, WritePlan
from livemarket.checkout.states import CANCELLED, EXPIRED, PAID, RESERVED, check_transition
from livemarket.checkout.tables import deals, order_lines, orders
from livemarket.errors import Conflict, DomainError, NotFound

MAX_LINES = 20
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
    rows: Sequence[Row[Any]], items: Sequence[OrderItem], now: datetime
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
    request = OrderRequest(
        f"{buyer_key}:{idempotency_key}", buyer_key, merged, buyer, special_id, payment_method
    )
    backend = ctx.backend
    # A twin with the same key waits here, then finds the order its twin wrote.
    async with backend.keys.hold(request.key):
        now = ctx.clock()
        sold_out_check = backend.check_sold_out(merged, now)
        try:
            if special_id is not None:  # credited to a special: it must be selling these
                window = await backend.sale_window(special_id, now)
                check_attribution(
                    window, (i.product_id for i in merged), now, ctx.settings.go_live_early_minutes
                )
            if sold_out_check.known_short is None:
                return await _reserve_and_record(ctx, request, now, sold_out_check)
            raise sold_out(sold_out_check.known_short)  # sold out a moment ago: no ledger call
        except DomainError as exc:
            if exc.code not in _REFUSALS and exc.code not in _ATTRIBUTION_REFUSALS:
                raise
            earlier = await backend.keys.find(request.key)
            if earlier is None:
                raise
        # A retry of an accepted order that is now refused for stock: the same order.
        return PlacedOrder(await _same_request(ctx, earlier, merged), created=False)


#: Stock refusals: a retried key must still get its earlier order instead.
_REFUSALS = frozenset({"sold_out", "deal_sold_out", "deal_ended", "deal_limit_reached"})
#: So must a retry whose special has stopped selling since the order was accepted.
_ATTRIBUTION_REFUSALS = frozenset({"special_not_selling"})


async def _reserve_and_record(
    ctx: CheckoutContext, req: OrderRequest, now: datetime, sold_out_check: SoldOutCheck
) -> PlacedOrder:
    """Price the lines (the rules) and let the backend take the stock and write the order;
    refusals raise (``DomainError``)."""
    lines: list[PricedLine] = []
    draft: dict[str, Any] = {}

    def plan(rows: Sequence[Any]) -> WritePlan:
        nonlocal lines, draft
        lines = _price_lines(rows, req.items, now)
        if ctx.backend.counters_in_database:
            _refuse_if_short(rows, lines)  # a sold-out item costs no write
        sid = req.special_id or next(
            (ln.deal_special_id for ln in lines if ln.deal_special_id), None
        )
        draft = _draft(ctx, req, sid, lines, now)
        return WritePlan([ln.hold() for ln in lines], draft, [ln.row() for ln in lines])

    outcome = await ctx.backend.place(req, now, plan, sold_out_check)
    if isinstance(outcome, Earlier):
        return PlacedOrder(await _same_request(ctx, outcome.order_id, req.items), False)
    await _after_reservation(ctx, draft["special_id"], lines, outcome.remaining)
    payment = ctx.payments.instructions(
        PaymentRequest(outcome.order_id, draft["total"], req.payment_method)
    )
    return PlacedOrder(_new_order_view(outcome.order_id, draft, lines, payment), created=True)


def _draft(
    ctx: CheckoutContext,
    req: OrderRequest,
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
    ctx: CheckoutContext, order_id: int, items: Sequence[OrderItem]
) -> dict[str, Any]:
    """The earlier order of a retried key; a different request under the same key is refused."""
    view = await get_order(ctx, order_id)
    earlier = [OrderItem(line["product_id"], line["quantity"]) for line in view["lines"]]
    if sorted(earlier, key=lambda i: i.product_id) != list(items):
        raise Conflict(
            "idempotency_key_reused", "this Idempotency-Key was used for a different order"
        )
    return view


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
    async with ctx.backend.writing() as tx:
        # Conditional on the status read above: of two racing moves, one wins.
        changed = (
            await tx.conn.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.status == row.status)
                .values(**values)
            )
        ).rowcount
        if not changed:
            raise Conflict("order_changed", "the order changed meanwhile; reload it")
        if target in (CANCELLED, EXPIRED):
            holds = (await _holds_of(tx.conn, [order_id]))[order_id]
            await ctx.backend.release(tx, row.buyer_key, holds, row.special_id)
    return await get_order(ctx, order_id)


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
    async with ctx.backend.writing() as tx:
        rows = (
            await tx.conn.execute(
                update(orders)
                .where(orders.c.id.in_(due), orders.c.status == RESERVED)
                .values(status=EXPIRED)
                .returning(orders.c.id, orders.c.buyer_key, orders.c.special_id)
            )
        ).all()
        if not rows:
            return 0
        holds = await _holds_of(tx.conn, [row.id for row in rows])
        for row in rows:
            await ctx.backend.release(tx, row.buyer_key, holds[row.id], row.special_id)
    return len(rows)
