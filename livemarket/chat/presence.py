"""Viewer counts and like totals behind one interface, in-process or in Redis.

Each instance knows its own sockets (``join``/``leave`` are synchronous and
cheap); ``totals`` gives the count over every instance. The gateway calls
``totals`` on a timer and pushes ``viewers`` only when the number changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Presence(Protocol):
    def join(self, special_id: int) -> None:
        """One more viewer socket on this instance."""

    def leave(self, special_id: int) -> None:
        """One fewer viewer socket on this instance."""

    async def totals(self, special_ids: Iterable[int]) -> dict[int, int]:
        """Viewers of each special over every instance."""

    async def close(self) -> None:
        """Withdraw this instance's counts."""


class LikeCounter(Protocol):
    async def add(self, special_id: int, clicks: int) -> int:
        """Add clicks; returns the special's new total over every instance."""

    async def total(self, special_id: int) -> int:
        """The special's like total."""


class LocalCounts:
    """This instance's sockets per special (shared by both backends)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def join(self, special_id: int) -> None:
        self.counts[special_id] = self.counts.get(special_id, 0) + 1

    def leave(self, special_id: int) -> None:
        left = self.counts.get(special_id, 0) - 1
        if left > 0:
            self.counts[special_id] = left
        else:
            self.counts.pop(special_id, None)


class InProcessPresence(LocalCounts):
    """The embedded mode: this process is the only instance."""

    async def totals(self, special_ids: Iterable[int]) -> dict[int, int]:
        return {sid: self.counts.get(sid, 0) for sid in special_ids}

    async def close(self) -> None:
        self.counts.clear()


class InProcessLikes:
    """The embedded mode's like totals (kept for the life of the process)."""

    def __init__(self) -> None:
        self._totals: dict[int, int] = {}

    async def add(self, special_id: int, clicks: int) -> int:
        total = self._totals.get(special_id, 0) + clicks
        self._totals[special_id] = total
        return total

    async def total(self, special_id: int) -> int:
        return self._totals.get(special_id, 0)
