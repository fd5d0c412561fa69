"""What every checkout route module shares: the checkout services, and the API tag."""

from __future__ import annotations

from aiohttp import web

from livemarket.checkout.context import CheckoutContext
from livemarket.web.typedefs import CHECKOUT_KEY

TAGS = ("checkout",)


def checkout_of(request: web.Request) -> CheckoutContext:
    """The checkout services the composition root built (``web/services``)."""
    return request.app[CHECKOUT_KEY]
