"""An /hls/ request answered by the instance that holds the special's relay.

Instances do not share live HLS state: only the relay's owner packages the stream.
Another instance fetches the same path and query from the owner's instance URL and
passes status, body and the caching headers through, so a cache in front may ask any
instance. A marker header keeps a fetched request from being passed on again.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from livemarket.web.errors import ApiError

#: Marks a request one instance makes of another: it is answered locally, never proxied
#: again (no loops while the directory changes its mind).
PROXY_HEADER = "X-LiveMarket-Hls-Proxy"
#: A fetch from the owner gives up after this long, plus what the owner may hold it.
PROXY_TIMEOUT_S = 3.0
#: Answer headers passed through from the owner.
PASSED_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Retry-After")

HLS_CLIENT_KEY = web.AppKey("hls_proxy_client", aiohttp.ClientSession)


def is_proxied(request: web.Request) -> bool:
    """A request another instance passed on: answer it here, whatever the directory says."""
    return PROXY_HEADER in request.headers


async def fetch_from_owner(request: web.Request, owner: str, held_s: float = 0.0) -> web.Response:
    """The owner's answer to ``request``; 503 ``hls_owner_unreachable`` if it gives none
    within ``PROXY_TIMEOUT_S`` beyond the ``held_s`` the owner may hold the request."""
    headers = {PROXY_HEADER: "1"}
    if "If-None-Match" in request.headers:
        headers["If-None-Match"] = request.headers["If-None-Match"]
    try:
        async with request.app[HLS_CLIENT_KEY].get(
            owner + str(request.rel_url),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=held_s + PROXY_TIMEOUT_S),
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
            passed = {
                name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers
            }
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(
            503,
            "hls_owner_unreachable",
            "The server holding this stream did not answer; try again.",
            headers={"Retry-After": "1", "Cache-Control": "no-store"},
        ) from exc
    if status == 304:
        return web.Response(status=304, headers=passed)
    return web.Response(status=status, body=body, headers=passed)


async def json_from_owner(request: web.Request, url: str) -> dict[str, Any] | None:
    """A JSON object the owner answers at ``url`` (200 only); None if it does not."""
    try:
        async with request.app[HLS_CLIENT_KEY].get(
            url,
            headers={PROXY_HEADER: "1"},
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT_S),
        ) as upstream:
            if upstream.status != 200:
                return None
            found = json.loads(await upstream.read())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return found if isinstance(found, dict) else None
