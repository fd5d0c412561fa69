"""Per-viewer forwarding state: start at a keyframe, never buffer without bound.

A video decoder can only start at a keyframe, and a frame after a gap is
garbage until the next one. So a gated (video) queue drops everything until a
keyframe, and when the viewer falls ``capacity`` frames behind it drops its
backlog and waits for the next keyframe (asking for one). A keyframe arriving
while ``catch_up`` or more frames are queued also jumps the viewer to it, which
bounds latency for a viewer that was briefly slow. Audio is not gated: the
oldest packet goes when the queue is full. No clock, no loop: tested directly.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class ViewerQueue(Generic[T]):
    """Bounded queue of encoded frames for one viewer and one media kind."""

    def __init__(self, capacity: int, *, gated: bool, catch_up: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.gated = gated
        self.catch_up = catch_up if catch_up is not None else max(1, capacity // 2)
        self.waiting_for_keyframe = gated
        self._items: deque[T] = deque()
        self.forwarded = 0
        self.dropped = 0
        self.skips = 0

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: T, *, keyframe: bool) -> bool:
        """Queue ``item`` if the viewer can use it; True when a keyframe is needed."""
        if not self.gated:
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            return False
        if keyframe and (self.waiting_for_keyframe or len(self._items) >= self.catch_up):
            if self._items:
                self.dropped += len(self._items)
                self.skips += 1
                self._items.clear()
            self.waiting_for_keyframe = False
            self._items.append(item)
            return False
        if self.waiting_for_keyframe:
            self.dropped += 1
            return True
        if len(self._items) >= self.capacity:
            # Too far behind: drop the backlog and this frame, resume at a keyframe.
            self.dropped += len(self._items) + 1
            self.skips += 1
            self._items.clear()
            self.waiting_for_keyframe = True
            return True
        self._items.append(item)
        return False

    def pop(self) -> T | None:
        """The next frame to send, or None when empty."""
        if not self._items:
            return None
        self.forwarded += 1
        return self._items.popleft()

    def restart(self) -> None:
        """Drop what is queued and wait for a keyframe again (a new publisher stream)."""
        self.dropped += len(self._items)
        self._items.clear()
        self.waiting_for_keyframe = self.gated
