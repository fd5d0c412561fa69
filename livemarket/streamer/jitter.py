"""Ingest loss that NACK could not repair: notice it, skip it, say so.

aiortc's video ``JitterBuffer`` hands out a frame only when every packet from
its head on has arrived. A packet that never comes (lost, and its NACK or
retransmission lost too) stalls the stream until 512 more packets have piled
up (seconds of video), and then the buffer drops the gap and carries on with
delta frames that refer to a frame nobody has: viewers would decode garbage
until the publisher's next periodic keyframe, if it ever sends one.

:class:`LossAwareJitterBuffer`: when no frame has come out for ``give_up_s``
(time for a NACK round trip) and a hole holds the buffer up, it drops
everything up to the next whole frame after the hole, and it reports
every skip (its own, and aiortc's overflow or sequence-jump resets) to
``on_loss``; the relay then gates viewers until a keyframe and asks the
publisher for one. It replaces the receiver's buffer before the receiver
starts (see :mod:`ingest`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

#: aiortc's video jitter buffer size (packets), kept: a large keyframe must fit.
VIDEO_CAPACITY = 512


class LossAwareJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer with a time limit on an unrepaired hole."""

    def __init__(
        self,
        on_loss: Callable[[], None],
        *,
        give_up_s: float = 0.3,
        capacity: int = VIDEO_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self._on_loss = on_loss
        self._give_up_s = give_up_s
        self._clock = clock
        self._progress_at: float | None = None
        self.losses = 0
        #: The SSRC of the media stream, the one a PLI or FIR must name. Packets come
        #: here with RTX already unwrapped; the receiver's own list of sources also
        #: holds the RTX SSRC (and Chromium sends RTX padding before any media).
        self.media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        skipped, frame = super().add(packet)
        now = self._clock()
        if skipped:  # aiortc dropped packets itself (overflow or a sequence jump)
            self._lost()
        if frame is not None or skipped or self._progress_at is None:
            self._progress_at = now
            return skipped, frame
        if now - self._progress_at < self._give_up_s:
            return skipped, frame
        # No frame for a while: a hole that NACK did not fill holds everything up,
        # unless a large frame is still arriving.
        if not self._skip_hole(packet.sequence_number):
            return skipped, frame
        self._progress_at = now
        self._lost()
        if self._origin is None:
            return skipped, None
        return skipped, self._remove_frame(packet.sequence_number)

    def _skip_hole(self, newest: int) -> bool:
        """Drop everything up to the first hole, the hole, and the frame it cut into.

        The frames before the hole may have lost their last packets, the frame
        after it its first ones; nothing there is of use without a keyframe.
        """
        origin = self._origin
        if origin is None:
            return False
        span = (newest - origin) & 0xFFFF
        if span >= self._capacity:
            return False  # a late packet from before the buffer's head
        slots = self._packets
        capacity = self._capacity
        hole = next((i for i in range(span) if slots[(origin + i) % capacity] is None), None)
        if hole is None:
            return False
        after = next(i for i in range(hole, span + 1) if slots[(origin + i) % capacity] is not None)
        if self.smart_remove(after + 1):
            self._origin = None
        return True

    def _lost(self) -> None:
        self.losses += 1
        self._on_loss()
