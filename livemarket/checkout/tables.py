"""Core ``Table`` handles of the checkout models, for the hot path's Core statements.

The ORM costs about three times a Core statement per order (see the issue's
figures), so the order path and the ledgers build statements on these.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from livemarket.checkout.models import DealBuyer, FlashDeal, Order, OrderLine, Product
from livemarket.scheduler.models import Special, SpecialProduct

products = cast(Table, Product.__table__)
deals = cast(Table, FlashDeal.__table__)
deal_buyers = cast(Table, DealBuyer.__table__)
orders = cast(Table, Order.__table__)
order_lines = cast(Table, OrderLine.__table__)
specials = cast(Table, Special.__table__)
special_products = cast(Table, SpecialProduct.__table__)
