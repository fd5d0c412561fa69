"""Which host names a generated link may carry (QR codes, calendar URLs, the socket URL).

Links are built from ``public_url`` when it is set. Without it they take the
request's own origin, but only when its ``Host`` is one this server is known by:
the public URL's, an instance URL's or an allowed origin's (``CorsPolicy``), or the
address the request actually reached (the socket's local address and port, in any
of its loopback spellings). Anything else (``Host: evil.example``) is refused with
400 ``host_not_allowed``: a QR code answered with ``Cache-Control: public`` would
otherwise carry the attacker's host to everyone behind the same cache.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from livemarket.web.cors import origin_of
from livemarket.web.errors import ApiError
from livemarket.web.typedefs import CORS_KEY, SETTINGS_KEY

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_address(name: str, local: str) -> bool:
    """``name`` (from ``Host``) spells the local address ``local`` (from the socket)."""
    try:
        local_ip = ipaddress.ip_address(local.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(local_ip, "ipv4_mapped", None)
    if mapped is not None:  # a dual-stack socket reports ::ffff:127.0.0.1
        local_ip = mapped
    if local_ip.is_loopback and name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name) == local_ip
    except ValueError:
        return False


def reached_address(request: web.Request, origin: str) -> bool:
    """``origin`` names the address and port this request's connection was accepted on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return False
    parts = urlsplit(origin)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    return port == sockname[1] and _same_address((parts.hostname or "").lower(), str(sockname[0]))


def link_origin(request: web.Request) -> str:
    """The origin generated links use; 400 ``host_not_allowed`` for an unknown ``Host``."""
    public = request.app[SETTINGS_KEY].public_url
    if public:
        return public.rstrip("/")
    return request_origin(request)


def request_origin(request: web.Request) -> str:
    """This request's own origin, when its ``Host`` is one the server is known by.

    A host named by a configured origin gets that origin (its scheme too: behind a
    TLS-terminating proxy the request itself arrives as plain http).
    """
    origin = origin_of(f"{request.scheme}://{request.host}")
    netloc = urlsplit(origin).netloc
    for known in request.app[CORS_KEY].origins:
        if urlsplit(known).netloc == netloc:
            return known
    if origin and reached_address(request, origin):
        return origin
    raise ApiError(
        400,
        "host_not_allowed",
        "This server does not answer to that host name (set LIVEMARKET_PUBLIC_URL).",
    )
