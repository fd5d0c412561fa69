"""A server-side WebSocket after the handshake: it only moves bytes.

websockets' protocol (``reader.py``) turns the client's bytes into messages and
answers pings and closes; this class writes those answers, keeps the write limit
(reading stops while more than ``HIGH_WATER`` bytes wait for the client, pongs
included) and hands each message to :meth:`WireSocket.received`. It is also the
fan-out core's sink (``TransportSink``): the same frame bytes go to every viewer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livemarket.realtime.fanout import HIGH_WATER, LOW_WATER, Connection, error_event
from livemarket.realtime.frames import OP_TEXT, Opcode
from livemarket.realtime.reader import PONG_FIRST_BYTE, FrameReader
from livemarket.realtime.sink import TransportSink


class WireSocket(TransportSink, asyncio.Protocol):
    """Bytes in through a :class:`FrameReader`, messages to :meth:`received`."""

    __slots__ = ("_reader", "_read_paused", "_stopped", "_write_blocked", "connection", "seen")

    def __init__(self, transport: asyncio.Transport, reader: FrameReader, info: Any) -> None:
        super().__init__(transport)
        self._reader = reader
        self._read_paused = False  # the subclass has more than it can take
        self._write_blocked = False  # the client is not reading what we write
        self._stopped = False  # the server closed it for cause: queued frames are void
        self.connection = Connection(self, info)
        self.seen = time.monotonic()

    def adopt(self) -> None:
        """Call once the transport is this socket's: ``pause_writing`` from ``HIGH_WATER``."""
        self._transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    # -- Sink (write, buffered and direct_fd from TransportSink) ----------------------
    def close(self, last: bytes) -> None:
        self._stopped = True
        super().close(last)

    def abort(self) -> None:
        self._stopped = True
        super().abort()

    # -- asyncio.Protocol ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        now = self.seen = time.monotonic()
        reader = self._reader
        messages = reader.feed(data, now)
        writes = reader.data_to_send()
        if reader.flooded:
            self.connection.close(
                1008,
                "flood",
                last=error_event("too_many_frames", "Far too many frames: disconnected."),
            )
            return
        if reader.closing and not reader.peer_closed:  # websockets failed it (1002, 1009...)
            self.connection.end(b"".join(writes))
            return
        for data_out in writes:
            # A pong counts against the write limit like any frame: while the client is
            # not reading, its pings go unanswered (RFC 6455 §5.5.3 lets us skip pongs).
            if data_out[0] != PONG_FIRST_BYTE or self.buffered() <= HIGH_WATER:
                self.write(data_out)
        for opcode, payload, verdict in messages:
            if self.connection.closed:
                return
            if opcode is OP_TEXT:
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    self.connection.close(1007, "invalid UTF-8")
                    return
                self.received(opcode, text, verdict)
            else:
                self.received(opcode, payload, verdict)
        if reader.closing:
            # The client left and websockets echoed its close: what it sent before still
            # counts (a subclass may still be working on it); nothing after it is read.
            self._transport.close()

    def pause_writing(self) -> None:
        """Over ``HIGH_WATER`` bytes wait for the client: read nothing more from it."""
        self._write_blocked = True
        self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_blocked = False
        if not self._read_paused:
            self._transport.resume_reading()

    # -- for subclasses --------------------------------------------------------------
    def pause_reading(self) -> None:
        """Read nothing more until :meth:`resume_reading` (a full inbox)."""
        self._read_paused = True
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._read_paused = False
        if not self._write_blocked:
            self._transport.resume_reading()

    def received(self, opcode: Opcode, data: str | bytes, verdict: str) -> None:
        """One whole message: ``str`` for text (valid UTF-8), ``bytes`` for binary;
        ``verdict`` is the flood budget's (``ok`` or ``refuse``)."""
        raise NotImplementedError
