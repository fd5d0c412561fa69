"""The per-viewer track: hands aiortc's sender pre-encoded packets.

When a track's ``recv()`` returns an ``av.Packet`` (pts and time_base set),
aiortc's ``RTCRtpSender`` only packetizes it (``encoder.pack``): no encoder
runs per viewer. The sender keeps its own SSRC, sequence numbers and a
random timestamp origin, so each viewer sees one continuous RTP stream.
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from livemarket.streamer.forwarding import ViewerQueue


class ForwardTrack(MediaStreamTrack):
    """A viewer's audio or video track fed by the relay through a bounded queue."""

    def __init__(self, kind: str, queue: ViewerQueue[av.Packet]) -> None:
        super().__init__()
        self.kind = kind
        self.queue = queue
        self._wake = asyncio.Event()

    def push(self, packet: av.Packet, *, keyframe: bool) -> bool:
        """Offer a frame; True when this viewer needs a keyframe."""
        wants_keyframe = self.queue.offer(packet, keyframe=keyframe)
        self._wake.set()
        return wants_keyframe

    def restart(self) -> None:
        """A new publisher stream: wait for its first keyframe."""
        self.queue.restart()

    async def recv(self) -> av.Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            packet = self.queue.pop()
            if packet is not None:
                return packet
            self._wake.clear()
            await self._wake.wait()

    def stop(self) -> None:
        super().stop()
        self._wake.set()
