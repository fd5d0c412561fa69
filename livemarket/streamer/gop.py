"""The current group of pictures of a video stream, kept so a new viewer starts at once.

A decoder starts at a keyframe. Without a cache a viewer who connects mid-stream
waits for the publisher's next one: a keyframe request (PLI) goes out, the
encoder makes one, it crosses the network; 0.1-0.3 s on loopback, more on a
real path, and a crowd joining at once still costs the publisher keyframes.
The relay keeps the packetized frames from the last keyframe on (the GOP): a
viewer is sent that chain first, then the live frames, with no gap, so its
decoder has a picture as soon as the keyframe arrives and is current by the
end of the burst.

Bounded: a GOP longer than ``max_frames`` or larger than ``max_bytes`` is
dropped whole (a chain with a hole cannot be decoded) and nothing is kept
until the next keyframe; :meth:`GopCache.push` says so, and the relay asks the
publisher for a fresh keyframe (Chromium and aiortc encoders otherwise send one
only when asked), so the cache is refilled and never older than the bound. The
bound also caps the burst a joining viewer receives. No clock, no I/O: tested
directly.
"""

from __future__ import annotations

from dataclasses import dataclass

#: About two seconds of 30 fps video; a joining viewer's burst is at most this long.
MAX_FRAMES = 60
#: The burst's size cap (a 720p GOP of two seconds at 2.5 Mbit/s is ~0.6 MB).
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class CachedFrame:
    """One packetized frame as the relay sent it: shared payloads, relay timestamp."""

    payloads: tuple[bytes, ...]
    timestamp: int
    keyframe: bool


class GopCache:
    """The frames from the stream's last keyframe on, or nothing."""

    def __init__(self, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: list[CachedFrame] = []
        self._bytes = 0
        self._mime_type = ""
        #: GOPs dropped for outgrowing the bound.
        self.overflows = 0

    def push(self, mime_type: str, payloads: list[bytes], timestamp: int, keyframe: bool) -> bool:
        """Keep a frame the relay has just sent; True when the GOP outgrew the bound now.

        A keyframe starts a new GOP; a delta frame extends the kept one. A delta
        frame with nothing kept (no keyframe yet, or the GOP was dropped), or of
        another codec than the kept GOP, leaves the cache empty.
        """
        size = sum(len(p) for p in payloads)
        if keyframe:
            self._frames = [CachedFrame(tuple(payloads), timestamp, True)]
            self._bytes = size
            self._mime_type = mime_type
            return self._check_bound()
        if not self._frames or mime_type != self._mime_type:
            self.clear()
            return False
        self._frames.append(CachedFrame(tuple(payloads), timestamp, False))
        self._bytes += size
        return self._check_bound()

    def _check_bound(self) -> bool:
        if len(self._frames) <= self.max_frames and self._bytes <= self.max_bytes:
            return False
        self.clear()
        self.overflows += 1
        return True

    def clear(self) -> None:
        """Forget the GOP: a new publisher, or the stream's delta chain broke on the ingest."""
        self._frames = []
        self._bytes = 0
        self._mime_type = ""

    def frames(self) -> tuple[CachedFrame, ...]:
        """The kept GOP, keyframe first (empty when there is none)."""
        return tuple(self._frames)

    @property
    def size(self) -> tuple[int, int]:
        """(frames, bytes) kept."""
        return len(self._frames), self._bytes
