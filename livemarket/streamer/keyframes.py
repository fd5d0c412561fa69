"""Keyframe-request throttle: many joiners, one request to the publisher.

Viewers ask for a keyframe when they join, when they fall behind, and with
every PLI/FIR their browser sends. Forwarding each of those to the publisher
would make its encoder emit keyframe after keyframe (a "PLI storm"). The rule:
one request is outstanding at a time; another is sent only once a keyframe has
arrived since, or ``retry_s`` has passed (the request or its keyframe was lost),
and never sooner than ``min_interval_s`` after the previous one, so a crowd
joining one after another costs the publisher a few keyframes a second at most.
"""

from __future__ import annotations


class KeyframeThrottle:
    """Decides whether a keyframe request goes to the publisher now. Clock-free."""

    def __init__(self, retry_s: float = 0.5, min_interval_s: float = 0.3) -> None:
        self.retry_s = retry_s
        self.min_interval_s = min_interval_s
        self._pending_since: float | None = None
        self._last_sent: float | None = None
        self.sent = 0
        self.suppressed = 0

    def request(self, now: float) -> bool:
        """Record a wish for a keyframe; True when the caller should send a PLI now."""
        pending = self._pending_since is not None and now - self._pending_since < self.retry_s
        recent = self._last_sent is not None and now - self._last_sent < self.min_interval_s
        if pending or recent:
            self.suppressed += 1
            return False
        self._pending_since = self._last_sent = now
        self.sent += 1
        return True

    def keyframe_arrived(self) -> None:
        """A keyframe came in: the outstanding request (if any) is answered."""
        self._pending_since = None

    def reset(self) -> None:
        """Forget the outstanding request (a new publisher has connected)."""
        self._pending_since = self._last_sent = None
