"""The fan-out core's :class:`~livemarket.realtime.fanout.Sink` over an asyncio transport."""

from __future__ import annotations

import asyncio


def plain_fd(transport: asyncio.BaseTransport) -> int:
    """The descriptor of a plain TCP transport's socket, or -1 (under TLS bytes must
    go through the transport to be encrypted)."""
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("ssl_object") is not None:
        return -1
    return int(sock.fileno())


class TransportSink:
    """Writes through ``transport``; offers its socket for direct writes while the
    transport holds nothing and is open (see ``sender.py`` for why that is safe)."""

    __slots__ = ("_fd", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._fd = plain_fd(transport)

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def direct_fd(self) -> int:
        transport = self._transport
        if self._fd < 0 or transport.get_write_buffer_size() or transport.is_closing():
            return -1
        return self._fd

    def close(self, last: bytes) -> None:
        self.write(last)
        self._transport.close()  # flushes what is buffered first

    def abort(self) -> None:
        self._transport.abort()
