"""Checkout over HTTP, one module per concern.

- ``products``: the catalog, product writes and pictures (``/api/v1/products``…)
- ``deals``: flash deals and a special's line-up (``/api/v1/specials/{id}/deals``…)
- ``orders``: place, read, pay, fulfil, cancel (``/api/v1/orders``…)
- ``sales``: a special's sales totals and CSV (operators)
- ``qr``: QR codes of products and specials
- ``pages``: the product page and the console's QR sheet and sales pages
- ``shared``: what they share (the checkout services, the API tag)

Thin handlers: parse (pydantic), check who may act, call one checkout service,
shape the answer. The services own the rules; ``web/errors.py`` maps their
errors to statuses. The checkout services themselves (ledger, stock pusher,
sweeper) are built in the composition root, ``web/services``.
"""

from __future__ import annotations

from aiohttp import web

from livemarket.web.routes.checkout import deals, orders, pages, products, qr, sales


def setup(app: web.Application) -> None:
    """Every checkout route and page (routes only)."""
    products.setup(app)
    for part in (deals, orders, sales, qr):
        part.routes.install(app)
    pages.setup(app)
