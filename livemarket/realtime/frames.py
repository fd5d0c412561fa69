"""WebSocket frames built once and written to many sockets (sans-I/O).

A server's frames are unmasked (RFC 6455 §5.1), so the bytes of a frame are
the same for every receiver: the fan-out encodes an event to JSON once, frames
it once (websockets' serializer, the same code its own servers use), and hands
the same ``bytes`` to every transport.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from websockets.frames import Close, Frame, Opcode

from livemarket.bus.catalogue import BATCH

OP_CONTINUATION = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG
#: A close reason's room in a control frame's 125 bytes, after the 2-byte code.
MAX_REASON_BYTES = 123


def frame(opcode: Opcode, payload: bytes) -> bytes:
    """One unmasked, final frame (a server's: the same bytes for every receiver),
    serialized by websockets."""
    return Frame(opcode, payload).serialize(mask=False)


def text_frame(text: str) -> bytes:
    """An unmasked, final text frame carrying ``text``."""
    return frame(OP_TEXT, text.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and ``reason`` cut to whole characters within 123 bytes."""
    cut = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")
    return frame(OP_CLOSE, Close(code, cut).serialize())


def encode(event: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as is (Korean stays one to three bytes per character)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def batch(texts: list[str]) -> str:
    """Several encoded events as one ``batch`` frame, without re-encoding them."""
    return '{"type":"' + BATCH + '","events":[' + ",".join(texts) + "]}"
