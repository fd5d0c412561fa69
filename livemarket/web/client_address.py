"""The client's address for per-address budgets, through trusted reverse proxies only.

Behind a proxy every connection comes from the proxy, so per-address limits
would cap the whole audience at once. A proxy listed in ``trusted_proxies``
(setting ``LIVEMARKET_TRUSTED_PROXIES``) is believed about who it forwarded:
the rightmost ``X-Forwarded-For`` entry that is not itself a trusted proxy.
Anyone else's ``X-Forwarded-For`` is ignored (a client could write any address).
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web


def client_address(request: web.Request, trusted_proxies: Collection[str]) -> str:
    """The address per-address limits count ``request`` against."""
    peer = request.remote or "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed(hops):
        if hop and hop not in trusted_proxies:
            return hop
    return peer
