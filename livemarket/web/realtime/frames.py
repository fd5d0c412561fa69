"""WebSocket frames built once and written to many sockets (sans-I/O).

A server's frames are unmasked (RFC 6455 §5.1), so the bytes of a frame are
the same for every receiver: the fan-out encodes an event to JSON once, frames
it once, and hands the same ``bytes`` to every transport.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (a server's: the same bytes for every receiver)."""
    first = 0x80 | opcode  # FIN set: one frame per message
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", first, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def text_frame(text: str) -> bytes:
    """An unmasked, final text frame carrying ``text``."""
    return frame(OP_TEXT, text.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and a reason of at most 123 bytes."""
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:123])


def encode(event: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as is (Korean stays one to three bytes per character)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def batch(texts: list[str]) -> str:
    """Several encoded events as one ``batch`` frame, without re-encoding them."""
    return '{"type":"batch","events":[' + ",".join(texts) + "]}"
