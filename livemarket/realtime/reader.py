"""A client's bytes in; whole messages and the server's protocol answers out (sans-I/O).

websockets' :class:`~websockets.server.ServerProtocol` does RFC 6455 for each
socket: framing and masking, control frames, close codes and reasons (1002 for
a code no endpoint may send, 1007 for a reason that is not UTF-8), the size
limit checked from a frame's header (1009, counting a fragmented message's
frames so far), answering pings and echoing closes. It reports frames, not
messages, and does not bound how many frames a message has: this module joins
fragments (linear: a list and one ``join``), bounds their number, and charges
every data frame and ping to the socket's flood budget.

Work per call is bounded: bytes are parsed ``SLICE`` at a time and parsing stops
as soon as the connection fails or floods, so a 256 KiB read of empty frames
costs at most one slice of parsing past the point where the budget ran out.

Memory: a protocol object is ~1.9 KB. Between whole frames, with no fragmented
message open, an open protocol holds nothing but its settings, so it is dropped
there and a fresh one made when the next bytes come: an idle viewer holds none.
"Between whole frames" is known by counting bytes: every byte fed belongs to a
frame websockets has reported once the sizes of those frames (header, mask and
payload, RFC 6455 §5.2) add up to it. A client using longer length fields than
needed never adds up; its protocol is simply kept.
"""

from __future__ import annotations

import logging

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from livemarket.realtime.protocol import FrameBudget

#: Frames one fragmented message may have (browsers send one frame per message).
MAX_FRAGMENTS = 64
#: Bytes parsed at a time before checking whether to stop.
SLICE = 4096

log = logging.getLogger(__name__)

_DATA = (Opcode.TEXT, Opcode.BINARY)
#: Server frames are unmasked and final: a pong frame starts with FIN | PONG.
PONG_FIRST_BYTE = 0x80 | Opcode.PONG
CLOSE_FIRST_BYTE = 0x80 | Opcode.CLOSE

#: A message: its opcode (text or binary), its payload, and the budget's verdict
#: over its frames (``ok`` or ``refuse``).
Message = tuple[Opcode, bytes, str]


def wire_size(length: int) -> int:
    """Bytes of a masked frame with a ``length``-byte payload and the shortest header."""
    return 6 + length + (0 if length < 126 else 2 if length < 1 << 16 else 8)


class FrameReader:
    """One socket's incoming side: whole messages out, protocol answers to write."""

    __slots__ = (
        "_budget",
        "_fragments",
        "_opcode",
        "_protocol",
        "_refused",
        "_unframed",
        "_writes",
        "closing",
        "flooded",
        "max_fragments",
        "max_size",
        "peer_closed",
    )

    def __init__(
        self,
        max_size: int,
        *,
        budget: FrameBudget | None = None,
        max_fragments: int = MAX_FRAGMENTS,
    ) -> None:
        self.max_size = max_size
        self.max_fragments = max_fragments
        self._budget = budget
        self._protocol: ServerProtocol | None = None
        self._fragments: list[bytes] | None = None
        self._opcode = Opcode.TEXT
        self._refused = False
        self._writes: list[bytes] | None = None  # most sockets never have any
        self._unframed = 0  # bytes fed that no reported frame accounts for yet
        #: A close frame was written (an echo or a failure): close the transport after it.
        self.closing = False
        #: ...because the client closed and websockets echoed it (else websockets failed it).
        self.peer_closed = False
        #: The budget said ``close``: the caller closes with 1008; nothing more is read.
        self.flooded = False

    def feed(self, data: bytes, now: float = 0.0) -> list[Message]:
        """The messages ``data`` completes; then call :meth:`data_to_send`."""
        out: list[Message] = []
        if self.closing or self.flooded:
            return out
        protocol = self._protocol
        if protocol is None:
            protocol = self._protocol = ServerProtocol(
                state=State.OPEN, max_size=self.max_size, logger=log
            )
        for start in range(0, len(data), SLICE):
            piece = data[start : start + SLICE]
            protocol.receive_data(piece)
            self._unframed += len(piece)
            for frame in protocol.events_received():
                assert isinstance(frame, Frame)  # an open protocol yields frames only
                self._unframed -= wire_size(len(frame.data))
                self._take(protocol, frame, now, out)
                if self.flooded or self.closing:
                    break  # frames parsed after a flood or our failing it do not count
            if writes := protocol.data_to_send():
                self._writes = writes if self._writes is None else self._writes + writes
            if self.flooded:
                return out
            if protocol.state is not State.OPEN:
                self.closing = True
                self._closed(protocol)
                return out
        if not self._unframed and self._fragments is None:
            self._protocol = None  # at a frame boundary: nothing worth keeping
        return out

    def _closed(self, protocol: ServerProtocol) -> None:
        received = protocol.close_rcvd
        if received is None:
            return  # websockets failed the connection; its close frame says why
        if protocol.close_sent is not received and self._fragments is not None:
            # A valid close in the middle of a fragmented message: RFC 6455 lets control
            # frames come between fragments, so the message is dropped and the close
            # echoed (Autobahn 7.1.5); websockets answers 1002 "incomplete fragmented
            # message" here, its only failure after parsing a close.
            payload = b"" if received.code == CloseCode.NO_STATUS_RCVD else received.serialize()
            kept = [data for data in self._writes or () if data and data[0] != CLOSE_FIRST_BYTE]
            self._writes = [*kept, Frame(Opcode.CLOSE, payload).serialize(mask=False)]
            self._fragments = None
        self.peer_closed = True

    def data_to_send(self) -> list[bytes]:
        """Frames to write (pongs, a close frame), oldest first; never the EOF marker."""
        writes, self._writes = self._writes, None
        return [data for data in writes if data] if writes else []

    def _charge(self, now: float) -> str:
        if self._budget is None:
            return "ok"
        verdict = self._budget.take(now)
        if verdict == "close":
            self.flooded = True
        return verdict

    def _take(self, protocol: ServerProtocol, frame: Frame, now: float, out: list[Message]) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PING:  # websockets has queued the pong
            self._charge(now)
            return
        if opcode not in _DATA and opcode is not Opcode.CONT:
            return  # a pong, or a close websockets has answered
        refused = self._charge(now) == "refuse"
        if self.flooded:
            return
        data = bytes(frame.data)
        if opcode is not Opcode.CONT:  # websockets refuses a new message inside one
            if frame.fin:
                out.append((opcode, data, "refuse" if refused else "ok"))
            else:
                self._fragments, self._opcode, self._refused = [data], opcode, refused
            return
        fragments = self._fragments
        assert fragments is not None  # websockets refuses a continuation of nothing
        fragments.append(data)
        self._refused = self._refused or refused
        if frame.fin:
            verdict = "refuse" if self._refused else "ok"
            out.append((self._opcode, b"".join(fragments), verdict))
            self._fragments = None
        elif len(fragments) >= self.max_fragments:
            protocol.fail(1008, "too many fragments")
            self._fragments = None
            self.closing = True
