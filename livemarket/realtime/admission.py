"""Who may open a realtime socket: per special, per server and per address caps. No I/O.

The socket caps follow the viewer caps (``capacity_per_special``,
``capacity_per_server``) with room to spare: ``SOCKETS_PER_SEAT`` sockets per
viewer seat, because someone refused a seat (the player says the room is full)
keeps chatting while waiting for one. ``sockets_per_address`` keeps one client
from taking a special's sockets by itself. Staff (a special's host, operators)
are never refused and not counted: they run the show, are few, and must get in
to moderate a full room.
Refusals happen before the upgrade: ``503 room_full`` for a cap, ``429
too_many_sockets`` for an address, both with ``Retry-After``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from livemarket.errors import DomainError, ErrorKind
from livemarket.streamer.admission import RoomFull

#: Seconds a client refused for its address is told to wait.
ADDRESS_RETRY_S = 10
#: Sockets per viewer seat: everyone watching, and as many again waiting for a seat.
SOCKETS_PER_SEAT = 2


@dataclass(frozen=True)
class _Seat:
    special_id: int
    address: str


class SocketSeats:
    """Open sockets (staff aside) by special and address, each held under its owner's key."""

    def __init__(self, per_special: int, per_server: int, per_address: int) -> None:
        self.per_special = per_special
        self.per_server = per_server
        self.per_address = per_address
        self._seats: dict[object, _Seat] = {}
        self._by_special: Counter[int] = Counter()
        self._by_address: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Any) -> SocketSeats:
        return cls(
            settings.capacity_per_special * SOCKETS_PER_SEAT,
            settings.capacity_per_server * SOCKETS_PER_SEAT,
            settings.sockets_per_address,
        )

    def take(self, key: object, special_id: int, address: str, *, staff: bool) -> None:
        """Count the socket ``key`` (staff are let in uncounted), or refuse it."""
        if staff:
            return
        if self._by_special[special_id] >= self.per_special:
            raise RoomFull("This live special's chat is full; please try again shortly.")
        if len(self._seats) >= self.per_server:
            raise RoomFull("The server is full; please try again shortly.")
        if self._by_address[address] >= self.per_address:
            raise DomainError(
                "too_many_sockets",
                "Too many open connections from this address.",
                kind=ErrorKind.LIMITED,
                retry_after=ADDRESS_RETRY_S,
            )
        self._seats[key] = _Seat(special_id, address)
        self._by_special[special_id] += 1
        self._by_address[address] += 1

    def release(self, key: object) -> None:
        """The socket ``key`` is gone (idempotent; nothing for staff sockets)."""
        seat = self._seats.pop(key, None)
        if seat is not None:
            _decrement(self._by_special, seat.special_id)
            _decrement(self._by_address, seat.address)

    @property
    def total(self) -> int:
        return len(self._seats)

    def count(self, special_id: int) -> int:
        return self._by_special[special_id]

    def from_address(self, address: str) -> int:
        return self._by_address[address]


def _decrement(counter: Counter[Any], key: object) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
