"""A destination's state as people see it: connecting, live, retrying, failed (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONNECTING, LIVE, RETRYING, FAILED, STOPPED = "connecting", "live", "retrying", "failed", "stopped"

#: Reconnect delays grow from the first to the last, then stay there.
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def backoff(attempt: int, steps: tuple[float, ...] = BACKOFF_S) -> float:
    """Seconds to wait before reconnect number ``attempt`` (1-based)."""
    return steps[min(max(attempt, 1), len(steps)) - 1]


@dataclass
class DestinationStatus:
    """What the studio and the console show for one destination."""

    destination_id: int
    name: str
    state: str = CONNECTING
    reason: str | None = None
    reconnects: int = 0
    bytes_sent: int = 0
    bitrate_bps: int = 0
    live_since: float | None = None
    dropped: int = 0

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.destination_id,
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "reconnects": self.reconnects,
            "bytes_sent": self.bytes_sent,
            "bitrate_bps": self.bitrate_bps,
            "uptime_s": round(now - self.live_since, 1) if self.live_since is not None else 0.0,
            "dropped": self.dropped,
        }
