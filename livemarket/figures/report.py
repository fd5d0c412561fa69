"""The season report: figures per day, partner platform, product category and special (pure).

Rows come from stored data (orders, audience samples); this module only groups and
sums them, so the same rules serve the page, the JSON and the CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from livemarket.checkout.sales import UTF8_BOM, spreadsheet_cell, spreadsheet_time

VIEWS = ("day", "platform", "category", "special", "product")


@dataclass(frozen=True, slots=True)
class SpecialTotals:
    """One special's figures over its whole run."""

    special_id: int
    title: str
    starts_at: datetime
    platform: str
    peak_viewers: int
    orders: int
    buyers: int
    units: int
    revenue: int
    discount: int


@dataclass(frozen=True, slots=True)
class CategoryTotals:
    category: str
    orders: int
    units: int
    revenue: int
    discount: int


@dataclass(frozen=True, slots=True)
class ProductTotals:
    product_id: int
    name: str
    category: str
    units: int
    revenue: int


@dataclass(slots=True)
class GroupTotals:
    """Specials grouped by a key (a day or a platform): each show's peak viewers summed."""

    key: str
    specials: int = 0
    peak_viewers: int = 0
    orders: int = 0
    units: int = 0
    revenue: int = 0
    discount: int = 0

    def add(self, row: SpecialTotals) -> None:
        self.specials += 1
        self.peak_viewers += row.peak_viewers
        self.orders += row.orders
        self.units += row.units
        self.revenue += row.revenue
        self.discount += row.discount


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The day a special belongs to: its start's date where the market is."""
    return moment.astimezone(zone).date()


def _grouped(rows: Iterable[SpecialTotals], key: Any) -> list[GroupTotals]:
    groups: dict[str, GroupTotals] = {}
    for row in rows:
        name = key(row)
        groups.setdefault(name, GroupTotals(name)).add(row)
    return [groups[name] for name in sorted(groups)]


def by_day(rows: Iterable[SpecialTotals], zone: ZoneInfo) -> list[GroupTotals]:
    return _grouped(rows, lambda row: local_day(row.starts_at, zone).isoformat())


def by_platform(rows: Iterable[SpecialTotals]) -> list[GroupTotals]:
    return _grouped(rows, lambda row: row.platform)


def top_products(rows: Iterable[ProductTotals], limit: int = 10) -> list[ProductTotals]:
    """The best sellers by revenue, then units (ties by id, so the order is stable)."""
    return sorted(rows, key=lambda p: (-p.revenue, -p.units, p.product_id))[:limit]


@dataclass(frozen=True, slots=True)
class SeasonReport:
    specials: list[SpecialTotals]
    categories: list[CategoryTotals]
    products: list[ProductTotals]
    zone: ZoneInfo

    def view(self, name: str) -> Sequence[Any]:
        """The rows of one view (``VIEWS``); a special's rows are in start order."""
        if name == "day":
            return by_day(self.specials, self.zone)
        if name == "platform":
            return by_platform(self.specials)
        if name == "category":
            return sorted(self.categories, key=lambda c: c.category)
        if name == "product":
            return top_products(self.products, limit=len(self.products))
        return sorted(self.specials, key=lambda s: (s.starts_at, s.special_id))

    def totals(self) -> GroupTotals:
        whole = GroupTotals("season")
        for row in self.specials:
            whole.add(row)
        return whole

    def as_json(self) -> dict[str, Any]:
        views = {name: [_row_json(row) for row in self.view(name)] for name in VIEWS}
        views["product"] = views["product"][:10]
        return {"totals": _row_json(self.totals()), **views}


def _row_json(row: Any) -> dict[str, Any]:
    out = asdict(row)
    for name, value in out.items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    return dict(out)


def to_csv(report: SeasonReport, view: str) -> str:
    """One view as CSV that opens right in a spreadsheet (BOM, numbers as numbers)."""
    rows = report.view(view)
    out = io.StringIO()
    out.write(UTF8_BOM)
    writer = csv.writer(out)
    if not rows:
        return out.getvalue()
    names = [f.name for f in fields(rows[0])]
    writer.writerow(names)
    for row in rows:
        values = (getattr(row, name) for name in names)
        writer.writerow(
            spreadsheet_time(v, report.zone) if isinstance(v, datetime) else spreadsheet_cell(v)
            for v in values
        )
    return out.getvalue()
