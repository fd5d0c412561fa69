"""One special's simulcast: its encoder, a pusher per destination, their status.

Attached to the relay as a frame sink while the special is live; it outlives a
publisher reconnecting (the relay's timeline is continuous, so the pushed
stream only shows a short gap) and is stopped when the host ends the special.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livemarket.simulcast.encoder import FrameEncoder
from livemarket.simulcast.flv import FlvSplitter
from livemarket.simulcast.pusher import Pusher
from livemarket.simulcast.rules import push_url
from livemarket.simulcast.status import DestinationStatus
from livemarket.tasks import cancel_and_wait

#: An encoder that keeps dying (input it cannot read) is not restarted forever.
MAX_ENCODER_RESTARTS = 5

NEEDS_H264 = "needs H.264: the publisher sends {codec}; simulcast copies video as it comes"


@dataclass(frozen=True)
class Target:
    """A destination ready to push (the key already decrypted; lives in memory only)."""

    destination_id: int
    name: str
    url: str
    stream_key: str


class SpecialSimulcast:
    """Owns the encoder and the pushers of one special until ``stop``."""

    def __init__(
        self,
        special_id: int,
        targets: list[Target],
        *,
        video_codec: str,
        on_change: Callable[[SpecialSimulcast], None],
        request_keyframe: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        backoff_steps: tuple[float, ...] | None = None,
    ) -> None:
        self.special_id = special_id
        self._clock = clock
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._splitter = FlvSplitter()
        self._ready = asyncio.Event()
        self.pushers = [
            Pusher(
                DestinationStatus(target.destination_id, target.name),
                push_url(target.url, target.stream_key),
                lambda: self._splitter.preamble,
                self._ready,
                on_change=self._changed,
                request_keyframe=request_keyframe,
                clock=clock,
                backoff_steps=backoff_steps,
            )
            for target in targets
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._encoder: FrameEncoder | None = None
        self.encoder_restarts = 0
        if video_codec.lower() != "video/h264":
            for pusher in self.pushers:
                pusher.fail(NEEDS_H264.format(codec=video_codec))
            return
        self._encoder = self._new_encoder()
        self._tasks = [self._loop.create_task(pusher.run()) for pusher in self.pushers]

    def push(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        """The relay's frame sink (loop thread, never blocks)."""
        if self._encoder is not None:
            self._encoder.push(kind, data, pts, keyframe)

    def _new_encoder(self) -> FrameEncoder:
        return FrameEncoder(
            self.special_id,
            self._flv_from_thread,
            on_exit=self._encoder_exited,
        )

    def _encoder_exited(self, ended: FrameEncoder) -> None:
        self._loop.call_soon_threadsafe(self._encoder_ended, ended)  # from its reader thread

    def _encoder_ended(self, ended: FrameEncoder) -> None:
        """The encoder died mid-show: start another; pushers restart on its new stream."""
        if ended.closing or ended is not self._encoder:
            return
        closer = self._loop.create_task(asyncio.to_thread(ended.close))
        self._closing.add(closer)
        closer.add_done_callback(self._closing.discard)
        self.encoder_restarts += 1
        if self.encoder_restarts > MAX_ENCODER_RESTARTS:
            self._encoder = None
            for pusher in self.pushers:
                pusher.fail(f"the encoder stopped: {ended.error or 'FFmpeg exited'}")
            return
        self._splitter = FlvSplitter()
        self._ready.clear()
        self._encoder = self._new_encoder()
        for pusher in self.pushers:
            pusher.restart()

    def _flv_from_thread(self, data: bytes) -> None:
        self._loop.call_soon_threadsafe(self._fan_out, data)

    def _fan_out(self, data: bytes) -> None:
        for tag in self._splitter.feed(data):
            if not tag.is_config:
                self._ready.set()  # the header and codec configuration precede media
            for pusher in self.pushers:
                pusher.offer(tag)

    def _changed(self) -> None:
        self._on_change(self)

    def status(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "special_id": self.special_id,
            "frames_dropped": self._encoder.dropped if self._encoder else 0,
            "encoder_restarts": self.encoder_restarts,
            "destinations": [pusher.status.as_dict(now) for pusher in self.pushers],
        }

    async def stop(self) -> None:
        """Stop pushing: pushers first (their FFmpeg killed), then the encoder."""
        await cancel_and_wait(self._tasks)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            await asyncio.to_thread(encoder.close)
