"""When a crashed worker is started again, and when crashing has become a loop (no I/O).

A worker that dies once (an OOM kill, a bug hit by one request) should be back at
once; one that dies again soon after waits longer each time, so a worker failing
at start-up does not spin the CPU; and one that keeps dying will not be cured by
another restart, so the supervisor gives up and says so (systemd's
``StartLimitBurst`` within ``StartLimitIntervalSec``, per worker).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: Crashes of one worker within ``RESTART_WINDOW_S`` that make the supervisor give up.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
#: The second crash within the window waits this long, each later one twice the last.
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0


class CrashLoop(Exception):
    """A worker crashed too often to be worth restarting; the message says which."""


@dataclass
class RestartPolicy:
    """Per worker: the delay before its restart, or :class:`CrashLoop` once it loops."""

    limit: int = RESTART_LIMIT
    window_s: float = RESTART_WINDOW_S
    first_backoff_s: float = FIRST_BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    _crashes: dict[int, deque[float]] = field(default_factory=dict)

    def crashed(self, worker: int, now: float, exitcode: int | None = None) -> float:
        """Record ``worker``'s crash at ``now`` (monotonic s); seconds to wait before restarting.

        The first crash in the window restarts at once; the n-th waits
        ``first_backoff_s * 2 ** (n - 2)``, at most ``max_backoff_s``. The
        ``limit``-th raises :class:`CrashLoop`.
        """
        recent = self._crashes.setdefault(worker, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        count = len(recent)
        if count >= self.limit:
            raise CrashLoop(
                f"worker {worker} exited {count} times within {self.window_s:g} s "
                f"(last exit code {exitcode}); giving up"
            )
        if count == 1:
            return 0.0
        return min(self.first_backoff_s * 2 ** (count - 2), self.max_backoff_s)
