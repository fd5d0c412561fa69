"""The K-MAS "Christmas special 100": the curated products of the demo season.

The data lives in ``catalog.json`` beside this module (shipped as package data);
this module loads and checks it once. Categories follow the 2021 event exactly:
62 food, 18 beauty, 14 living, 6 fashion. SKUs are the natural key the seed uses
(``KMAS-F001`` food, ``B`` beauty, ``L`` living, ``W`` fashion/wear).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

#: The event's split of its 100 products, by category.
CATEGORY_COUNTS = {"food": 62, "beauty": 18, "living": 14, "fashion": 6}

#: Product themes (a special presents one theme) and how a title names them.
THEME_LABELS = {
    "hangwa": "한과·전통과자",
    "tteok": "떡·조청",
    "seaweed": "김·천일염",
    "jeotgal": "젓갈·간고등어",
    "jangkimchi": "장·김치",
    "tea": "전통차·과일청",
    "health": "홍삼·꿀·건강즙",
    "meatfish": "한우·수산 특산물",
    "fruit": "제철 과일·견과",
    "grain": "쌀·잡곡·나물",
    "beauty": "로컬 뷰티",
    "candle": "캔들·디퓨저·장식",
    "tableware": "공예 식기·주방",
    "fashion": "겨울 패션 소품",
}


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """One curated product as the demo seeds it; ``price`` is list price in whole KRW."""

    sku: str
    category: str
    theme: str
    name: str
    name_en: str
    maker: str
    region: str
    price: int
    stock: int
    description: str

    @property
    def maker_label(self) -> str:
        """Maker and home region in one line, as the product table's ``maker`` keeps it."""
        return f"{self.maker} ({self.region})"


def _product(row: dict[str, Any]) -> CatalogProduct:
    product = CatalogProduct(**row)
    if product.category not in CATEGORY_COUNTS:
        raise ValueError(f"{product.sku}: unknown category {product.category!r}")
    if product.theme not in THEME_LABELS:
        raise ValueError(f"{product.sku}: unknown theme {product.theme!r}")
    if not isinstance(product.price, int) or product.price <= 0 or product.price % 100:
        raise ValueError(f"{product.sku}: price must be a positive whole KRW amount")
    if not isinstance(product.stock, int) or product.stock < 0:
        raise ValueError(f"{product.sku}: stock must be a non-negative integer")
    return product


def parse_catalog(rows: list[dict[str, Any]]) -> tuple[CatalogProduct, ...]:
    """Check and freeze catalog rows: unique SKUs, known categories and themes, KRW prices."""
    products = tuple(_product(row) for row in rows)
    skus = Counter(p.sku for p in products)
    duplicated = sorted(sku for sku, n in skus.items() if n > 1)
    if duplicated:
        raise ValueError(f"duplicate SKUs: {', '.join(duplicated)}")
    return products


@cache
def load_catalog() -> tuple[CatalogProduct, ...]:
    """The 100 products, in SKU order; read from package data once per process."""
    text = resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    return parse_catalog(json.loads(text))
