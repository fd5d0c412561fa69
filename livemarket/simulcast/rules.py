"""What a destination may be: plain rules without I/O."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from livemarket.errors import DomainError

SCHEMES = ("rtmp", "rtmps")
#: Printable ASCII without spaces: what ingest servers accept as a stream key.
STREAM_KEY = re.compile(r"^[\x21-\x7e]{4,200}$")


def check_ingest_url(url: str) -> str:
    """An ``rtmp://`` or ``rtmps://`` URL with a host and an application path."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        raise DomainError("bad_ingest_url", "The ingest URL must start with rtmp:// or rtmps://.")
    if not parts.hostname:
        raise DomainError("bad_ingest_url", "The ingest URL needs a host.")
    if parts.path.strip("/") == "":
        raise DomainError("bad_ingest_url", "The ingest URL needs an application path (/live).")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise DomainError("bad_ingest_url", "Put the stream key in its own field, not in the URL.")
    return url.strip().rstrip("/")


def check_stream_key(key: str) -> str:
    if not STREAM_KEY.match(key):
        raise DomainError(
            "bad_stream_key", "The stream key is 4 to 200 printable characters without spaces."
        )
    return key


def push_url(ingest_url: str, stream_key: str) -> str:
    """Where FFmpeg publishes: the ingest URL with the key as the stream name."""
    return f"{ingest_url}/{stream_key}"


def redact(text: str, secrets: list[str]) -> str:
    """``text`` (an FFmpeg error line) with every stream key replaced, fit to log or show."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****" + secret[-4:])
    return text
