"""The season report's grouping and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from livemarket.figures.report import (
    CategoryTotals,
    ProductTotals,
    SeasonReport,
    SpecialTotals,
    by_day,
    to_csv,
    top_products,
)

SEOUL = ZoneInfo("Asia/Seoul")


def special(sid: int, starts: datetime, platform: str, revenue: int) -> SpecialTotals:
    return SpecialTotals(sid, f"show {sid}", starts, platform, 100, 2, 2, 3, revenue, 10)


def test_a_special_belongs_to_the_market_day_of_its_start() -> None:
    """A show at 23:30 UTC on the 17th is on the 18th in Seoul."""
    rows = [
        special(1, datetime(2021, 12, 17, 23, 30, tzinfo=UTC), "Naver", 1_000),
        special(2, datetime(2021, 12, 18, 5, 0, tzinfo=UTC), "Grip", 2_000),
        special(3, datetime(2021, 12, 19, 5, 0, tzinfo=UTC), "Grip", 4_000),
    ]
    days = by_day(rows, SEOUL)
    assert [(d.key, d.specials, d.revenue, d.peak_viewers) for d in days] == [
        ("2021-12-18", 2, 3_000, 200),
        ("2021-12-19", 1, 4_000, 100),
    ]
    report = SeasonReport(rows, [], [], SEOUL)
    assert [(p.key, p.revenue) for p in report.view("platform")] == [
        ("Grip", 6_000),
        ("Naver", 1_000),
    ]
    assert report.totals().revenue == 7_000


def test_top_products_by_revenue_then_units() -> None:
    """Best sellers first; the order is stable for ties."""
    rows = [
        ProductTotals(1, "a", "food", 1, 500),
        ProductTotals(2, "b", "food", 5, 500),
        ProductTotals(3, "c", "beauty", 1, 900),
    ]
    assert [p.product_id for p in top_products(rows, limit=2)] == [3, 2]


def test_report_csv_opens_in_a_spreadsheet() -> None:
    """BOM, numbers bare, local times, Korean intact, no formulas."""
    rows = [special(1, datetime(2021, 12, 18, 1, 0, tzinfo=UTC), "네이버", 5_000)]
    report = SeasonReport(rows, [CategoryTotals("food", 1, 2, 3, 4)], [], SEOUL)
    text = to_csv(report, "special")
    assert text.startswith("\ufeff")
    row = next(csv.DictReader(io.StringIO(text[1:])))
    assert (row["platform"], row["revenue"], row["starts_at"]) == (
        "네이버",
        "5000",
        "2021-12-18 10:00:00",
    )
    assert to_csv(report, "category").splitlines()[1] == "food,1,2,3,4"
