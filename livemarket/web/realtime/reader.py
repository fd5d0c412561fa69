"""Reading a client's WebSocket frames (sans-I/O): masked, maybe fragmented, bounded.

The gateway owns each socket after the handshake (see ``gateway.py``), so it reads
the frames itself. A message's size is checked from the frame header, before its
payload is buffered: at most ``max_size`` plus one header is ever held per socket.
"""

from __future__ import annotations

from livemarket.web.realtime.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
)

_DATA = (OP_TEXT, OP_BINARY)
_CONTROL = (OP_CLOSE, OP_PING, OP_PONG)


class ProtocolViolation(Exception):
    """The peer broke RFC 6455 or a limit: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(mask: bytes, payload: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (RFC 6455 §5.3), as one big integer."""
    size = len(payload)
    if not size:
        return b""
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")


class FrameReader:
    """Turns received bytes into whole messages: ``(opcode, payload)`` pairs."""

    __slots__ = ("_buffer", "_fragment_op", "_fragments", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._fragment_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The messages completed by ``data``; raises :class:`ProtocolViolation`."""
        buf = self._buffer + data if self._buffer else data
        end = len(buf)
        pos = 0
        out: list[tuple[int, bytes]] = []
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            fin, opcode = first & 0x80, first & 0x0F
            if first & 0x70:
                raise ProtocolViolation(1002, "reserved bits set")
            if not second & 0x80:
                raise ProtocolViolation(1002, "client frames must be masked")
            length, head = second & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if opcode in _CONTROL:
                if length > 125 or not fin:
                    raise ProtocolViolation(1002, "bad control frame")
            elif opcode in _DATA or opcode == OP_CONTINUATION:
                held = sum(map(len, self._fragments)) if self._fragments else 0
                if held + length > self.max_size:
                    raise ProtocolViolation(1009, "message too big")
            else:
                raise ProtocolViolation(1002, "unknown opcode")
            start = pos + head + 4
            if end < start + length:
                break
            payload = unmask(buf[pos + head : start], buf[start : start + length])
            pos = start + length
            self._take(fin, opcode, payload, out)
        self._buffer = buf[pos:]
        return out

    def _take(self, fin: int, opcode: int, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        if opcode in _CONTROL:
            out.append((opcode, payload))
        elif opcode == OP_CONTINUATION:
            if self._fragments is None:
                raise ProtocolViolation(1002, "continuation without a first frame")
            self._fragments.append(payload)
            if fin:
                out.append((self._fragment_op, b"".join(self._fragments)))
                self._fragments = None
        elif self._fragments is not None:
            raise ProtocolViolation(1002, "new message inside a fragmented one")
        elif fin:
            out.append((opcode, payload))
        else:
            self._fragments, self._fragment_op = [payload], opcode
