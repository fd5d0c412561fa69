"""The operator's sales view of a special: totals (units, revenue, deal vs list) and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.pricing import iso_utc
from livemarket.checkout.states import FULFILLED, PAID, RESERVED
from livemarket.checkout.tables import order_lines, orders, products

#: Orders that count as sold (reserved ones are pending until paid or expired).
COUNTED = (RESERVED, PAID, FULFILLED)


@dataclass(frozen=True)
class SaleLine:
    order_id: int
    created_at: str
    status: str
    product_id: int
    product_name: str
    quantity: int
    unit_price: int
    list_price: int
    deal_id: int | None

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


def summarize(lines: Iterable[SaleLine]) -> dict[str, Any]:
    """Units and revenue in KRW, split deal/list price and paid/pending (pure)."""
    totals = {
        "orders": 0,
        "units": 0,
        "revenue": 0,
        "paid_revenue": 0,
        "pending_revenue": 0,
        "deal_units": 0,
        "deal_revenue": 0,
        "list_units": 0,
        "list_revenue": 0,
        "discount_given": 0,
    }
    per_product: dict[int, dict[str, Any]] = {}
    seen: set[int] = set()
    for line in lines:
        if line.status not in COUNTED:
            continue
        seen.add(line.order_id)
        kind = "deal" if line.deal_id is not None else "list"
        totals["units"] += line.quantity
        totals["revenue"] += line.amount
        totals["paid_revenue" if line.status != RESERVED else "pending_revenue"] += line.amount
        totals[f"{kind}_units"] += line.quantity
        totals[f"{kind}_revenue"] += line.amount
        totals["discount_given"] += (line.list_price - line.unit_price) * line.quantity
        product = per_product.setdefault(
            line.product_id,
            {
                "product_id": line.product_id,
                "name": line.product_name,
                "units": 0,
                "revenue": 0,
                "deal_units": 0,
                "list_units": 0,
            },
        )
        product["units"] += line.quantity
        product["revenue"] += line.amount
        product[f"{kind}_units"] += line.quantity
    totals["orders"] = len(seen)
    return {
        "totals": totals,
        "products": sorted(per_product.values(), key=lambda p: p["product_id"]),
    }


async def sale_lines(engine: AsyncEngine, special_id: int) -> list[SaleLine]:
    """Every order line of the special, oldest first."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    orders.c.id,
                    orders.c.created_at,
                    orders.c.status,
                    order_lines.c.product_id,
                    products.c.name,
                    order_lines.c.quantity,
                    order_lines.c.unit_price,
                    order_lines.c.list_price,
                    order_lines.c.deal_id,
                )
                .select_from(
                    orders.join(order_lines, order_lines.c.order_id == orders.c.id).join(
                        products, products.c.id == order_lines.c.product_id
                    )
                )
                .where(orders.c.special_id == special_id)
                .order_by(orders.c.id, order_lines.c.product_id)
            )
        ).all()
    return [
        SaleLine(
            r.id,
            iso_utc(r.created_at),
            r.status,
            r.product_id,
            r.name,
            r.quantity,
            r.unit_price,
            r.list_price,
            r.deal_id,
        )
        for r in rows
    ]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """``value`` as a cell: text that a spreadsheet would run as a formula is kept text."""
    # A product name like "=HYPERLINK(...)" must not become a formula in a spreadsheet.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: Excel reads a UTF-8 file as the system's legacy code page unless it starts with a BOM
#: (Korean names then open as mojibake); every other reader skips it.
UTF8_BOM = "\ufeff"

#: The one text form of a moment that Excel, LibreOffice and Numbers all read as a date and
#: time (an ISO string with ``T`` and an offset stays text in Excel).
SPREADSHEET_TIME = "%Y-%m-%d %H:%M:%S"


def spreadsheet_time(moment: datetime | str, zone: ZoneInfo) -> str:
    """``moment`` (aware, or ISO with an offset) as a wall-clock time in ``zone``."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(zone).strftime(SPREADSHEET_TIME)


def to_csv(lines: Sequence[SaleLine], zone: ZoneInfo) -> str:
    """One row per order line, with a header, made to open right in a spreadsheet.

    UTF-8 with a BOM, amounts as bare integers (numbers, not text), the order time as a
    wall-clock time in ``zone`` (named in the header) so it opens as a date.
    """
    out = io.StringIO()
    out.write(UTF8_BOM)
    fields = [*SaleLine.__dataclass_fields__, "amount"]
    writer = csv.writer(out)
    header = {"created_at": f"created_at ({zone.key})"}
    writer.writerow([header.get(name, name) for name in fields])
    for line in lines:
        row = {**asdict(line), "amount": line.amount}
        row["created_at"] = spreadsheet_time(line.created_at, zone)
        writer.writerow([spreadsheet_cell(row[name]) for name in fields])
    return out.getvalue()
