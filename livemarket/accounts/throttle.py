"""Login throttling: after repeated failures a username (or address) waits before trying again.

A plain sliding-window counter with no I/O; the web layer keeps one per process.
In scale-out each instance counts on its own, which still bounds guessing to
``max_failures × instances`` per window — acceptable for password logins that
are Argon2-hashed anyway.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """Allows ``max_failures`` failed logins per key within ``window_s`` seconds."""

    max_failures: int = 5
    window_s: float = 60.0
    max_keys: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) < self.max_failures:
            return 0.0
        return failures[0] + self.window_s - now

    def failed(self, key: str, now: float) -> None:
        """Record a failed attempt (memory stays bounded: the oldest keys are forgotten)."""
        if key not in self._failures and len(self._failures) >= self.max_keys:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(key, deque(maxlen=self.max_failures)).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
