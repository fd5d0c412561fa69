"""Sliding-window throttles: after repeated attempts a key (a username, an address) waits.

A plain counter with no I/O; the web layer keeps one per process and per purpose
(logins, reminder changes). In scale-out, logins count in Redis instead
(``livemarket.web.login_throttle``) so every instance shares one budget; reminders
still count per instance (``max_events × instances`` per window, for a cheap write).
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

    def take(self, keys: tuple[str, ...], now: float) -> float:
        """Count one attempt on every key, or none when any must wait (its wait returned).

        Check and record happen in one call with no await in between, so concurrent
        requests cannot all pass the check before any of them is counted.
        """
        wait = max((self.retry_after(key, now) for key in keys), default=0.0)
        if wait > 0:
            return wait
        for key in keys:
            self.record(key, now)
        return 0.0

    def give_back(self, key: str) -> None:
        """Uncount the newest attempt on ``key`` (a success is not a failure)."""
        events = self._events.get(key)
        if events:
            events.pop()

    def forget(self, key: str) -> None:
        self._events.pop(key, None)
