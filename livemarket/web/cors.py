"""Cross-origin rules: which page origins may call this server's media endpoints.

With several instances a page served by one follows WHEP's ``307`` to another,
so the media endpoints answer CORS for the configured origins, and pages allow
``connect-src`` to the same origins in their Content-Security-Policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from livemarket.config import Settings

#: What a cross-origin WHIP/WHEP client may send and which answer headers its script may
#: read. No PATCH: trickle ICE and ICE restarts are not offered (a same-origin PATCH gets
#: 501), and clients such as Eyevinn's WHIP client read PATCH here as "trickle ICE
#: supported" and would send an offer without candidates.
CORS_ALLOW_METHODS = "POST, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Content-Type, Authorization, If-Match"
CORS_EXPOSE_HEADERS = "Location, Link, ETag, Retry-After"
#: How long a browser may reuse a preflight's answer.
CORS_MAX_AGE_S = 600
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``https://Shop.example:443/i1`` -> ``https://shop.example``; "" if not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class CorsPolicy:
    """Which page origins may call WHIP/WHEP from a browser, and the headers they get.

    Allowed: ``allowed_origins``, the public URL's origin and this instance's own
    (a page served by one instance follows WHEP's 307 to another). The origin is
    echoed, never ``*``, and no credentials are allowed: WHEP needs no cookie and
    WHIP authenticates with its bearer key. Anything else, including the ``null``
    origin, gets no CORS header at all, so the browser refuses the answer.
    """

    origins: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> CorsPolicy:
        urls = (*settings.allowed_origins, settings.public_url, settings.instance_url)
        return cls(frozenset(filter(None, map(origin_of, urls))))

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin_of(origin) in self.origins

    def headers(self, origin: str | None, *, preflight: bool) -> dict[str, str]:
        """The CORS headers for a request from ``origin`` (empty when not allowed)."""
        if origin is None or not self.allows(origin):
            return {}
        headers = {"Access-Control-Allow-Origin": origin}
        if preflight:
            headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
            headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        else:
            headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        return headers
