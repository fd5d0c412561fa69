"""Sliding-window rates (frames per second, bits per second) for the studio and metrics."""

from __future__ import annotations

from collections import deque


class RateMeter:
    """Counts events and bytes over the last ``window_s`` seconds. Clock-free."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self.total_events = 0
        self.total_bytes = 0

    def add(self, now: float, size: int) -> None:
        """Record one event (a frame) of ``size`` bytes at time ``now``."""
        self._events.append((now, size))
        self._bytes += size
        self.total_events += 1
        self.total_bytes += size
        self._expire(now)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._events and self._events[0][0] < horizon:
            _, size = self._events.popleft()
            self._bytes -= size

    def per_second(self, now: float) -> float:
        """Events per second over the window ending at ``now``."""
        self._expire(now)
        return len(self._events) / self.window_s

    def bits_per_second(self, now: float) -> float:
        """Payload bits per second over the window ending at ``now``."""
        self._expire(now)
        return self._bytes * 8 / self.window_s
