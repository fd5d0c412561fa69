"""One continuous media timeline per relay, across publisher reconnects.

Each new publisher connection restarts its RTP timestamps at zero (aiortc maps
them from the first packet). Viewers must see timestamps that keep advancing,
or their jitter buffers and decoders stall; so a new source is spliced onto
the old timeline at the wall-clock time elapsed since the last frame, which
keeps audio and video aligned with each other too.
"""

from __future__ import annotations


class Timeline:
    """Maps a source's timestamps (clock-rate units) onto the relay's own. Clock-free."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
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
                self._offset = -timestamp
            else:
                gap = max(1, int((now - self._last_wall) * self.clock_rate))
                self._offset = self._last + gap - timestamp
        mapped = timestamp + self._offset
        if self._last is not None and mapped < self._last:
            mapped = self._last  # never go backwards (reordered source timestamps)
        self._last = mapped
        self._last_wall = now
        return mapped
