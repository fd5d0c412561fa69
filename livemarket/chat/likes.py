"""Like (heart) aggregation: many clicks in, one count out per interval, no I/O.

A viewer can click as fast as they like; the server adds at most
``per_person`` clicks per person per interval and the gateway pushes one
``likes`` total per room per interval, so a flood of clicks costs a dict update
each and never floods the other viewers.
"""

from __future__ import annotations


class LikeTally:
    """Clicks since the last ``drain``, per room, with a per-person cap."""

    def __init__(self, per_person: int = 10) -> None:
        self.per_person = per_person
        self._by_person: dict[tuple[int, str], int] = {}
        self._by_room: dict[int, int] = {}

    def add(self, special_id: int, person: str, clicks: int = 1) -> int:
        """Count up to ``clicks`` for ``person``; returns how many were counted."""
        key = (special_id, person)
        already = self._by_person.get(key, 0)
        counted = max(0, min(clicks, self.per_person - already))
        if counted:
            self._by_person[key] = already + counted
            self._by_room[special_id] = self._by_room.get(special_id, 0) + counted
        return counted

    def drain(self) -> dict[int, int]:
        """The clicks per room since the last drain; starts a new interval."""
        rooms, self._by_room = self._by_room, {}
        self._by_person.clear()
        return rooms

    def restore(self, rooms: dict[int, int]) -> None:
        """Give back drained clicks that could not be counted (Redis away): they go out
        with the next interval's instead of being lost (one integer per room: bounded)."""
        for special_id, clicks in rooms.items():
            self._by_room[special_id] = self._by_room.get(special_id, 0) + clicks
