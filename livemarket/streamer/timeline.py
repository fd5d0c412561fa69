"""One continuous media timeline per relay, across publisher reconnects.

Each new publisher connection restarts its timestamps at zero (aiortc's receiver
maps them from the first packet, and unwraps the 32-bit RTP clock: a publisher's
random origin wraps within the first 13 hours at 90 kHz). Viewers must see
timestamps that keep advancing, or their jitter buffers and decoders stall; so
a new source is spliced onto the old timeline at the wall-clock time elapsed
since the last frame.

Audio and video share one wall-clock epoch: each kind's timeline starts at the
time its first frame arrived after the relay's first frame of any kind, so the
two stay aligned for packagers that put both in one file (HLS, recordings),
whichever arrived first.
"""

from __future__ import annotations


class Epoch:
    """The wall-clock time of the first frame a relay saw, of any kind."""

    def __init__(self) -> None:
        self._at: float | None = None

    def since(self, now: float) -> float:
        """Seconds from the epoch to ``now`` (the first caller fixes the epoch)."""
        if self._at is None:
            self._at = now
        return now - self._at


class Timeline:
    """Maps a source's timestamps (clock-rate units) onto the relay's own. Clock-free."""

    def __init__(self, clock_rate: int, epoch: Epoch | None = None) -> None:
        self.clock_rate = clock_rate
        self._epoch = epoch or Epoch()
        self._offset: int | None = None
        self._last: int | None = None
        self._last_wall = 0.0

    def new_source(self) -> None:
        """The next timestamp comes from a new publisher connection."""
        self._offset = None

    def map(self, timestamp: int, now: float) -> int:
        """The relay timestamp for a source timestamp seen at wall time ``now``."""
        if self._offset is None:
            if self._last is None:
                start = int(self._epoch.since(now) * self.clock_rate)
            else:
                start = self._last + max(1, int((now - self._last_wall) * self.clock_rate))
            self._offset = start - timestamp
        mapped = timestamp + self._offset
        if self._last is not None and mapped < self._last:
            mapped = self._last  # never go backwards (reordered source timestamps)
        self._last = mapped
        self._last_wall = now
        return mapped
