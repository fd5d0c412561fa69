"""Reading and writing the figures: audience samples in, show figures and the season out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, distinct, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from livemarket.chat.models import ChatMessage
from livemarket.checkout.sales import COUNTED
from livemarket.checkout.tables import deals, order_lines, orders, products, specials
from livemarket.figures.models import SpecialMinute
from livemarket.figures.report import CategoryTotals, ProductTotals, SeasonReport, SpecialTotals
from livemarket.figures.series import (
    AudienceSample,
    DealSale,
    DealWindow,
    OrderPoint,
    deal_json,
    show_figures,
)
from livemarket.localized import local_name
from livemarket.scheduler.models import Platform

minutes_table = cast(Table, SpecialMinute.__table__)
chat_table = cast(Table, ChatMessage.__table__)
platforms_table = cast(Table, Platform.__table__)

#: ``(special_id, minute) -> (viewers, likes)``
Samples = Mapping[tuple[int, datetime], tuple[int, int]]


async def record_samples(engine: AsyncEngine, samples: Samples) -> None:
    """Upsert each minute keeping the larger figures, so concurrent samplers agree."""
    if not samples:
        return
    rows = [
        {"special_id": sid, "minute": minute, "peak_viewers": viewers, "likes": likes}
        for (sid, minute), (viewers, likes) in samples.items()
    ]
    if engine.dialect.name == "postgresql":
        pg = postgresql.insert(minutes_table)
        statement: Any = pg.on_conflict_do_update(
            index_elements=["special_id", "minute"],
            set_={
                "peak_viewers": func.greatest(
                    minutes_table.c.peak_viewers, pg.excluded.peak_viewers
                ),
                "likes": func.greatest(minutes_table.c.likes, pg.excluded.likes),
            },
        )
    else:
        lite = sqlite.insert(minutes_table)
        statement = lite.on_conflict_do_update(
            index_elements=["special_id", "minute"],
            set_={
                "peak_viewers": func.max(minutes_table.c.peak_viewers, lite.excluded.peak_viewers),
                "likes": func.max(minutes_table.c.likes, lite.excluded.likes),
            },
        )
    async with engine.begin() as conn:
        await conn.execute(statement, rows)


async def host_and_title(engine: AsyncEngine, special_id: int) -> tuple[int, str] | None:
    """The special's host and title, or ``None`` when there is no such special."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(specials.c.host_id, specials.c.title).where(specials.c.id == special_id)
            )
        ).first()
    return None if row is None else (int(row.host_id), str(row.title))


async def live_special_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        result = await conn.execute(select(specials.c.id).where(specials.c.status == "live"))
        return [row.id for row in result]


def _window(special: Any, now: datetime) -> tuple[datetime, datetime]:
    start = min(special.starts_at, special.went_live_at or special.starts_at)
    if special.status == "live":
        end = max(special.ends_at, now)
    else:
        end = max(special.ends_at, special.ended_at or special.ends_at)
    return start, end


async def show(engine: AsyncEngine, special_id: int, now: datetime) -> dict[str, Any] | None:
    """A special's figures minute by minute, its totals and its deals' curves (or None)."""
    async with engine.connect() as conn:
        special = (await conn.execute(select(specials).where(specials.c.id == special_id))).first()
        if special is None:
            return None
        start, end = _window(special, now)
        samples = [
            AudienceSample(r.minute, r.peak_viewers, r.likes)
            for r in await conn.execute(
                select(minutes_table).where(minutes_table.c.special_id == special_id)
            )
        ]
        points = await _order_points(conn, special_id)
        chat = [
            r.created_at
            for r in await conn.execute(
                select(chat_table.c.created_at).where(chat_table.c.special_id == special_id)
            )
        ]
        windows = [
            DealWindow(
                r.id, r.product_id, r.discount_pct, r.starts_at, r.ended_at or r.ends_at, r.quantity
            )
            for r in await conn.execute(
                select(deals).where(deals.c.special_id == special_id).order_by(deals.c.id)
            )
        ]
        sales = await _deal_sales(conn, special_id)
    figures = show_figures(start, end, samples, points, chat)
    return {
        "special_id": special_id,
        "status": special.status,
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        **figures.as_json(),
        "deals": [deal_json(w, sales) for w in windows],
    }


async def _order_points(conn: AsyncConnection, special_id: int) -> list[OrderPoint]:
    units = (
        select(order_lines.c.order_id, func.sum(order_lines.c.quantity).label("units"))
        .group_by(order_lines.c.order_id)
        .subquery()
    )
    result = await conn.execute(
        select(orders.c.created_at, orders.c.buyer_key, orders.c.total, units.c.units)
        .join(units, units.c.order_id == orders.c.id)
        .where(orders.c.special_id == special_id, orders.c.status.in_(COUNTED))
    )
    return [OrderPoint(r.created_at, r.buyer_key, r.total, int(r.units)) for r in result]


async def _deal_sales(conn: AsyncConnection, special_id: int) -> list[DealSale]:
    result = await conn.execute(
        select(order_lines.c.deal_id, orders.c.created_at, order_lines.c.quantity)
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(
            orders.c.special_id == special_id,
            orders.c.status.in_(COUNTED),
            order_lines.c.deal_id.is_not(None),
        )
    )
    return [DealSale(r.deal_id, r.created_at, r.quantity) for r in result]


async def season(engine: AsyncEngine, zone: ZoneInfo, lang: str = "ko") -> SeasonReport:
    """The season's figures from stored orders and samples (cancelled specials left out).

    Platform and product names are given in ``lang`` (a product's English name falls back
    to its Korean one when it has none).
    """
    counted = orders.c.status.in_(COUNTED)
    amount = order_lines.c.quantity * order_lines.c.unit_price
    discount = order_lines.c.quantity * (order_lines.c.list_price - order_lines.c.unit_price)
    async with engine.connect() as conn:
        per_order = {
            r.special_id: r
            for r in await conn.execute(
                select(
                    orders.c.special_id,
                    func.count().label("orders"),
                    func.count(distinct(orders.c.buyer_key)).label("buyers"),
                    func.sum(orders.c.total).label("revenue"),
                )
                .where(counted, orders.c.special_id.is_not(None))
                .group_by(orders.c.special_id)
            )
        }
        lines = order_lines.join(orders, orders.c.id == order_lines.c.order_id)
        per_line = {
            r.special_id: r
            for r in await conn.execute(
                select(
                    orders.c.special_id,
                    func.sum(order_lines.c.quantity).label("units"),
                    func.sum(discount).label("discount"),
                )
                .select_from(lines)
                .where(counted, orders.c.special_id.is_not(None))
                .group_by(orders.c.special_id)
            )
        }
        peaks = {
            r.special_id: r.peak
            for r in await conn.execute(
                select(
                    minutes_table.c.special_id, func.max(minutes_table.c.peak_viewers).label("peak")
                ).group_by(minutes_table.c.special_id)
            )
        }
        shows = await conn.execute(
            select(
                specials.c.id,
                specials.c.title,
                specials.c.starts_at,
                platforms_table.c.name,
                platforms_table.c.name_ko,
            )
            .select_from(
                specials.outerjoin(platforms_table, platforms_table.c.id == specials.c.platform_id)
            )
            .where(specials.c.status != "cancelled")
        )
        special_rows = []
        for s in shows:
            o, line = per_order.get(s.id), per_line.get(s.id)
            special_rows.append(
                SpecialTotals(
                    special_id=s.id,
                    title=s.title,
                    starts_at=s.starts_at,
                    platform=local_name(lang, s.name_ko, s.name) if s.name_ko else "-",
                    peak_viewers=int(peaks.get(s.id) or 0),
                    orders=int(o.orders) if o else 0,
                    buyers=int(o.buyers) if o else 0,
                    units=int(line.units) if line else 0,
                    revenue=int(o.revenue) if o else 0,
                    discount=int(line.discount) if line else 0,
                )
            )
        with_products = lines.join(products, products.c.id == order_lines.c.product_id)
        categories = [
            CategoryTotals(r.category, int(r.orders), int(r.units), int(r.revenue), int(r.discount))
            for r in await conn.execute(
                select(
                    products.c.category,
                    func.count(distinct(orders.c.id)).label("orders"),
                    func.sum(order_lines.c.quantity).label("units"),
                    func.sum(amount).label("revenue"),
                    func.sum(discount).label("discount"),
                )
                .select_from(with_products)
                .where(counted)
                .group_by(products.c.category)
            )
        ]
        product_rows = [
            ProductTotals(
                r.id,
                local_name(lang, r.name, r.name_en),
                r.category,
                int(r.units),
                int(r.revenue),
            )
            for r in await conn.execute(
                select(
                    products.c.id,
                    products.c.name,
                    products.c.name_en,
                    products.c.category,
                    func.sum(order_lines.c.quantity).label("units"),
                    func.sum(amount).label("revenue"),
                )
                .select_from(with_products)
                .where(counted)
                .group_by(products.c.id, products.c.name, products.c.name_en, products.c.category)
            )
        ]
    return SeasonReport(special_rows, categories, product_rows, zone)
