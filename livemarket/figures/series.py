"""A show's figures minute by minute, built from samples, orders and chat (pure, no I/O).

The dashboard draws these: viewers over time, chat messages per minute, likes, orders and
revenue (GMV) per minute, conversion, and each deal's sell-through against its countdown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

#: A show longer than this (the longest allowed special is 4 h) is drawn up to it only:
#: a dashboard never builds an unbounded list from a bad date.
MAX_MINUTES = 6 * 60


def floor_minute(moment: datetime) -> datetime:
    """The start of ``moment``'s minute."""
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class AudienceSample:
    """What was seen in one minute: the most viewers and the like total so far."""

    minute: datetime
    viewers: int
    likes: int


@dataclass(frozen=True, slots=True)
class OrderPoint:
    """One counted order: when, by whom (a buyer key, never shown), how much."""

    at: datetime
    buyer: str
    total: int
    units: int


@dataclass(frozen=True, slots=True)
class DealWindow:
    """A flash deal as the dashboard draws it: its countdown and its quantity."""

    id: int
    product_id: int
    discount_pct: int
    starts_at: datetime
    ends_at: datetime
    quantity: int


@dataclass(frozen=True, slots=True)
class DealSale:
    """Units of a deal sold in one order, and when."""

    deal_id: int
    at: datetime
    units: int


@dataclass(slots=True)
class Minute:
    minute: datetime
    viewers: int = 0
    likes: int = 0
    chat: int = 0
    orders: int = 0
    units: int = 0
    revenue: int = 0


@dataclass(frozen=True, slots=True)
class ShowFigures:
    minutes: list[Minute]
    peak_viewers: int
    buyers: int
    orders: int
    revenue: int
    likes: int
    chat: int

    @property
    def conversion(self) -> float | None:
        """Buyers over peak viewers (``None`` before anyone watched)."""
        return round(self.buyers / self.peak_viewers, 4) if self.peak_viewers else None

    def as_json(self) -> dict[str, Any]:
        return {
            "minutes": [{**asdict(m), "minute": m.minute.isoformat()} for m in self.minutes],
            "totals": {
                "peak_viewers": self.peak_viewers,
                "buyers": self.buyers,
                "orders": self.orders,
                "revenue": self.revenue,
                "likes": self.likes,
                "chat": self.chat,
                "conversion": self.conversion,
            },
        }


def show_figures(
    start: datetime,
    end: datetime,
    samples: Iterable[AudienceSample],
    orders: Iterable[OrderPoint],
    chat: Iterable[datetime],
) -> ShowFigures:
    """Every minute from ``start`` to ``end`` (inclusive), with what happened in it.

    The window stretches to take in anything that happened before or after it (a show
    that started early or ran late), up to ``MAX_MINUTES`` from its start. Likes are a
    running total: a minute with no sample carries the last total on, so the line never
    drops to zero between samples. Anything beyond the cap is counted in the totals but
    not drawn.
    """
    samples, orders, chat = list(samples), list(orders), list(chat)
    moments = [s.minute for s in samples] + [o.at for o in orders] + chat
    if moments:
        start, end = min(start, *moments), max(end, *moments)
    first = floor_minute(start)
    count = min(int((floor_minute(end) - first) / timedelta(minutes=1)) + 1, MAX_MINUTES)
    minutes = [Minute(first + timedelta(minutes=i)) for i in range(max(count, 1))]

    def slot(moment: datetime) -> Minute | None:
        index = int((floor_minute(moment) - first) / timedelta(minutes=1))
        return minutes[index] if 0 <= index < len(minutes) else None

    peak = likes = 0
    for sample in samples:
        peak, likes = max(peak, sample.viewers), max(likes, sample.likes)
        found = slot(sample.minute)
        if found is not None:
            found.viewers = max(found.viewers, sample.viewers)
            found.likes = max(found.likes, sample.likes)
    running = 0
    for minute in minutes:
        running = minute.likes = max(running, minute.likes)
    buyers: set[str] = set()
    order_count = revenue = 0
    for order in orders:
        buyers.add(order.buyer)
        order_count += 1
        revenue += order.total
        found = slot(order.at)
        if found is not None:
            found.orders += 1
            found.units += order.units
            found.revenue += order.total
    messages = 0
    for at in chat:
        messages += 1
        found = slot(at)
        if found is not None:
            found.chat += 1
    return ShowFigures(minutes, peak, len(buyers), order_count, revenue, likes, messages)


def sell_through(deal: DealWindow, sales: Iterable[DealSale]) -> list[dict[str, int]]:
    """Units sold so far against seconds into the deal's countdown, one point per sale.

    Starts at (0, 0) and ends at the countdown's end with the final count, so a deal that
    sold nothing still draws a flat line across its window.
    """
    length = max(int((deal.ends_at - deal.starts_at).total_seconds()), 0)
    points = [{"t": 0, "sold": 0}]
    sold = 0
    for sale in sorted((s for s in sales if s.deal_id == deal.id), key=lambda s: s.at):
        sold += sale.units
        t = min(max(int((sale.at - deal.starts_at).total_seconds()), 0), length)
        points.append({"t": t, "sold": sold})
    points.append({"t": length, "sold": sold})
    return points


def deal_json(deal: DealWindow, sales: Iterable[DealSale]) -> dict[str, Any]:
    """A deal with its countdown, quantity and sell-through curve, for the dashboard."""
    return {
        "id": deal.id,
        "product_id": deal.product_id,
        "discount_pct": deal.discount_pct,
        "starts_at": deal.starts_at.isoformat(),
        "ends_at": deal.ends_at.isoformat(),
        "quantity": deal.quantity,
        "curve": sell_through(deal, sales),
    }
