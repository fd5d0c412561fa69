"""The curated 100: counts by category, natural keys and sane KRW prices."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from livemarket.demo.catalog import CATEGORY_COUNTS, load_catalog, parse_catalog

PREFIX = {"food": "F", "beauty": "B", "living": "L", "fashion": "W"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_hundred_products_split_like_the_2021_event() -> None:
    """The catalog has the event's 62 food, 18 beauty, 14 living and 6 fashion products."""
    catalog = load_catalog()
    assert len(catalog) == 100
    assert Counter(p.category for p in catalog) == {
        "food": 62,
        "beauty": 18,
        "living": 14,
        "fashion": 6,
    }
    assert sum(CATEGORY_COUNTS.values()) == 100


def test_skus_are_stable_unique_and_name_their_category() -> None:
    """Every SKU is unique and reads KMAS-<category letter><3 digits>, the seed's natural key."""
    catalog = load_catalog()
    assert len({p.sku for p in catalog}) == len(catalog)
    for product in catalog:
        assert re.fullmatch(rf"KMAS-{PREFIX[product.category]}\d{{3}}", product.sku), product.sku


def test_products_have_korean_and_english_names_makers_and_whole_krw_prices() -> None:
    """Names are Korean with an English twin, each has a maker and region, prices are whole won."""
    for product in load_catalog():
        assert HANGUL.search(product.name), product.sku
        assert product.name_en.isascii() and product.name_en, product.sku
        assert HANGUL.search(product.description), product.sku
        assert product.maker and product.region, product.sku
        assert isinstance(product.price, int) and 5_000 <= product.price <= 200_000, product.sku
        assert product.price % 100 == 0, product.sku
        assert product.stock >= 50, product.sku
    assert len({p.name for p in load_catalog()}) == 100


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        sku="KMAS-F001", category="food", theme="hangwa", name="한과", name_en="Hangwa",
        maker="공방", region="전남 담양", price=12_900, stock=10, description="설명",
    )  # fmt: skip
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(), _row()], "duplicate SKUs: KMAS-F001"),
        ([_row(category="toys")], "unknown category"),
        ([_row(theme="wine")], "unknown theme"),
        ([_row(price=12_900.5)], "whole KRW"),
        ([_row(price=0)], "whole KRW"),
        ([_row(stock=-1)], "stock"),
    ],
)
def test_bad_catalog_rows_are_refused_with_a_reason(
    rows: list[dict[str, Any]], message: str
) -> None:
    """A broken data file fails loudly, naming the problem, instead of seeding nonsense."""
    with pytest.raises(ValueError, match=message):
        parse_catalog(rows)
