"""Write a viewer's datagrams to its ICE socket, several per system call.

The relay's cost per viewer is mostly the kernel's: one ``sendto`` per RTP
packet, and on loopback the delivery to the receiver is charged to the sender
too. The packets of one frame are the same size except the last (the
packetizers cut full-size pieces), which is the shape Linux's UDP
segmentation offload (``UDP_SEGMENT``, Linux 4.18+) takes: the frame goes
down the stack as one buffer in one ``sendmsg`` and is cut into datagrams at
the device or on delivery; the receiver sees ordinary datagrams. Where the
option is refused, it falls back to one ``sendto`` per datagram for good.

The socket is a duplicate of the descriptor aioice reads from (same local
port, so ICE, consent checks and the peer's view are unchanged), written
without the event loop: a full send buffer raises instead of queueing, which
the relay treats as congestion (the viewer skips to the next keyframe).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Any

#: ``UDP_SEGMENT`` from linux/udp.h (not exported by Python's socket module).
UDP_SEGMENT = 103
#: The kernel's limit on segments in one send (UDP_MAX_SEGMENTS), and on the buffer.
MAX_SEGMENTS = 64
MAX_BUFFER = 65000

_segmentation = hasattr(socket, "SOL_UDP") and os.name == "posix"
#: What a kernel or device without UDP segmentation answers (EIO: no checksum offload).
_UNSUPPORTED = {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP}
_SEGMENT_SIZE = struct.Struct("=H")


def segment_runs(sizes: list[int]) -> list[tuple[int, int]]:
    """Split datagrams (by size) into runs one segmented send can carry: ``[start, end)``.

    A run is datagrams of one size, optionally ended by one shorter datagram,
    within the kernel's segment count and buffer limits.
    """
    runs = []
    start, count = 0, len(sizes)
    while start < count:
        size = sizes[start]
        end, total = start + 1, size
        while (
            end < count
            and sizes[end] <= size
            and end - start < MAX_SEGMENTS
            and total + sizes[end] <= MAX_BUFFER
        ):
            total += sizes[end]
            end += 1
            if sizes[end - 1] < size:
                break  # a shorter datagram ends a run
        runs.append((start, end))
        start = end
    return runs


class DatagramSocket:
    """Non-blocking writes to the socket behind an asyncio datagram transport."""

    def __init__(self, transport: Any) -> None:
        self.source = transport
        raw = transport.get_extra_info("socket")
        self._socket = socket.socket(fileno=os.dup(raw.fileno()))
        self._socket.setblocking(False)

    def send(self, datagrams: list[bytes], address: Any) -> bool:
        """Send datagrams in order; False when the socket's buffer is full (they are lost)."""
        global _segmentation
        sock = self._socket
        try:
            if _segmentation and len(datagrams) > 1:
                try:
                    self._send_segmented(datagrams, address)
                    return True
                except BlockingIOError:
                    raise
                except OSError as error:
                    if error.errno not in _UNSUPPORTED:
                        raise
                    _segmentation = False  # not supported here: plain sends from now on
            for datagram in datagrams:
                sock.sendto(datagram, address)
        except BlockingIOError:
            return False
        except OSError:
            return False  # e.g. the address became unreachable; ICE will notice
        return True

    def _send_segmented(self, datagrams: list[bytes], address: Any) -> None:
        sock = self._socket
        for start, end in segment_runs([len(d) for d in datagrams]):
            if end - start == 1:
                sock.sendto(datagrams[start], address)
                continue
            control = [(socket.SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(len(datagrams[start])))]
            sock.sendmsg([b"".join(datagrams[start:end])], control, 0, address)

    def close(self) -> None:
        self._socket.close()
