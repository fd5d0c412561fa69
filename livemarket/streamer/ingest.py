"""Take the publisher's encoded frames straight off aiortc's receiver.

aiortc's ``RTCRtpReceiver`` reassembles RTP into encoded frames (SRTP, NACK,
RTX and REMB all handled) and puts ``(codec, JitterFrame)`` on a private
``queue.Queue`` that its decoder thread reads. Swapping that queue for a
:class:`FrameTap` before the receiver starts delivers every encoded frame to a
callback on the event-loop thread, and nothing is ever decoded. A video
receiver's jitter buffer is swapped too, for one that reports (and cuts short)
loss that NACK could not repair (:mod:`jitter`).

This relies on private names of aiortc 1.16.0 (pinned exactly in
pyproject.toml); :func:`tap_receiver` raises at once if the name moves, and
``tests/streamer/test_ingest_hook.py`` fails loudly.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.streamer.jitter import LossAwareJitterBuffer

logger = logging.getLogger(__name__)

#: The private attribute (name-mangled ``__decoder_queue``) the hook replaces.
DECODER_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
#: The receiver's private jitter buffer (name-mangled ``__jitter_buffer``).
JITTER_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"

FrameCallback = Callable[[RTCRtpCodecParameters, JitterFrame], None]


class FrameTap:
    """Stands in for the receiver's decoder queue.

    ``put`` is called by the receiver on the loop thread: encoded frames go to
    the callback, ``None`` (receiver stopping) releases the decoder thread,
    which then only ends the remote track: its ``get`` blocks until then.
    """

    def __init__(self, on_frame: FrameCallback) -> None:
        self._on_frame = on_frame
        self._closed = threading.Event()
        self.jitter: LossAwareJitterBuffer | None = None

    @property
    def media_ssrc(self) -> int | None:
        """The SSRC a keyframe request must name (None before the first video packet)."""
        return self.jitter.media_ssrc if self.jitter is not None else None

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self._closed.set()
            return
        codec, frame = item
        try:
            self._on_frame(codec, frame)
        except Exception:  # a relay bug must not kill the receiver's RTP handling
            logger.exception("forwarding an encoded frame failed")

    def get(self) -> None:
        self._closed.wait()
        return None

    def close(self) -> None:
        """Release the idle decoder thread (also done by the receiver's own stop)."""
        self._closed.set()


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_frame: FrameCallback,
    *,
    on_loss: Callable[[], None] | None = None,
    give_up_s: float = 0.3,
) -> FrameTap:
    """Install a :class:`FrameTap` on a receiver that has not started yet.

    With ``on_loss``, a video receiver also gets a :class:`LossAwareJitterBuffer`
    that calls it whenever the stream skips packets it never received.
    """
    current = getattr(receiver, DECODER_QUEUE_ATTR, None)
    jitter = getattr(receiver, JITTER_BUFFER_ATTR, None)
    if not isinstance(current, queue.Queue) or not isinstance(jitter, JitterBuffer):
        raise RuntimeError(
            f"aiortc's RTCRtpReceiver has no {DECODER_QUEUE_ATTR} queue or "
            f"{JITTER_BUFFER_ATTR}: the forwarding hook needs the pinned aiortc version"
        )
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RuntimeError("the receiver has already started decoding")
    tap = FrameTap(on_frame)
    setattr(receiver, DECODER_QUEUE_ATTR, tap)
    if on_loss is not None and jitter._is_video:
        tap.jitter = LossAwareJitterBuffer(on_loss, give_up_s=give_up_s)
        setattr(receiver, JITTER_BUFFER_ATTR, tap.jitter)
    return tap
