"""Sliding-window throttles: after repeated attempts a key (a username, an address) waits.

A plain counter with no I/O; the web layer keeps one per process and per purpose
(failed logins, reminder changes). In scale-out each instance counts on its own,
which still bounds a key to ``max_events × instances`` per window: enough for
password guessing (Argon2-hashed anyway) and for cheap writes such as reminders.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """Allows ``max_events`` recorded events per key within ``window_s`` seconds."""

    max_events: int = 5
    window_s: float = 60.0
    max_keys: int = 10_000
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again; 0 when it may act now."""
        events = self._events.get(key)
        if not events:
            return 0.0
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) < self.max_events:
            return 0.0
        return events[0] + self.window_s - now

    def record(self, key: str, now: float) -> None:
        """Count one event (memory stays bounded: the oldest keys are forgotten)."""
        if key not in self._events and len(self._events) >= self.max_keys:
            self._events.pop(next(iter(self._events)))
        self._events.setdefault(key, deque(maxlen=self.max_events)).append(now)

    def forget(self, key: str) -> None:
        self._events.pop(key, None)
