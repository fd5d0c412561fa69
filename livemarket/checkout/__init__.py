"""Catalog, flash deals, stock ledger, orders, payment and QR codes.

The calendar runner starts planned deals with :func:`start_deal`
(``await start_deal(ctx, special_id=…, product_id=…, discount_pct=…, duration_s=…,
quantity=…, per_buyer_limit=5, created_by=None) -> Deal``), where ``ctx`` is the
app's :class:`CheckoutContext` (``CHECKOUT_KEY`` in ``web/typedefs.py``).
"""

from livemarket.checkout.context import CheckoutContext
from livemarket.checkout.deals import active_deals, end_deal, start_deal

__all__ = ["CheckoutContext", "active_deals", "end_deal", "start_deal"]
