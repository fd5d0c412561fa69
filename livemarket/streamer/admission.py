"""Who gets a viewer seat: the caps, and a budget of unconnected seats per address. No I/O.

A WHEP viewer holds a seat from its offer on. A seat that has not connected is
*pending*: it counts against the special's and the server's caps only for the
connect grace (the relay hangs up a viewer not connected by then), and at most
``pending_per_address`` of them may wait for any one client address. So
offers that never connect (a script, a broken client) can neither take a room
for longer than the grace nor, from one address, take more than a few seats;
what the budget refuses is ``429 too_many_pending`` with ``Retry-After`` (when
that address's oldest pending seat expires). Connected viewers count against
the caps as long as they stay.

The caps count WebRTC seats only: a viewer refused one (``503 webrtc_seats_full``)
can watch the same special over LL-HLS, which any HTTP cache carries without a seat.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from livemarket.errors import DomainError, ErrorKind

#: Seconds a viewer refused for a full room is told to wait before trying again.
ROOM_FULL_RETRY_S = 10


class RoomFull(DomainError):
    """The special or the server has no seat left: 503 with Retry-After."""

    kind = ErrorKind.UNAVAILABLE
    code_name = "room_full"

    def __init__(self, message: str) -> None:
        super().__init__(self.code_name, message, retry_after=ROOM_FULL_RETRY_S)


class WebRtcSeatsFull(RoomFull):
    """No WebRTC seat left (the special's or the server's cap): ``webrtc_seats_full``.

    Its own code so that a player can tell it from other 503s (a dependency down)
    and switch to HLS at once instead of waiting for a seat.
    """

    code_name = "webrtc_seats_full"


class TooManyPending(DomainError):
    """This address already has its share of seats waiting to connect: 429."""

    kind = ErrorKind.LIMITED

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too_many_pending",
            "Too many players from this address are still connecting; try again shortly.",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class SeatLimits:
    """Caps on seats (connected and pending), and the pending budget per address."""

    per_special: int
    per_server: int
    pending_per_address: int
    #: How long a seat may stay pending: the connect grace plus the negotiation deadline.
    pending_s: float


@dataclass(eq=False)
class Seat:
    """One viewer's place, pending until :meth:`SeatBook.settle` (or until it expires)."""

    special_id: int
    address: str
    expires_at: float
    pending: bool = field(default=True)


class SeatBook:
    """Pending seats by special and address; connected viewers are counted by the caller.

    Expired seats are swept whenever the book is read, so a seat whose settle
    never came (a bug, a lost callback) frees itself after ``pending_s``.
    """

    def __init__(self, limits: SeatLimits) -> None:
        self.limits = limits
        self._pending: dict[int, set[Seat]] = defaultdict(set)
        self._by_address: dict[str, set[Seat]] = defaultdict(set)

    def reserve(
        self, special_id: int, address: str, now: float, *, connected: int, connected_total: int
    ) -> Seat:
        """A pending seat for ``address`` in ``special_id``, or WebRtcSeatsFull / TooManyPending.

        ``connected`` and ``connected_total`` are the viewers already seated (in this
        special and on this server) that this book does not count as pending.
        """
        self._sweep(now)
        limits = self.limits
        if connected + len(self._pending.get(special_id, ())) >= limits.per_special:
            raise WebRtcSeatsFull(
                "Every WebRTC seat of this live special is taken; try again shortly "
                "(HLS, when offered, has no seat limit)."
            )
        if connected_total + self.pending_total() >= limits.per_server:
            raise WebRtcSeatsFull(
                "The server has no WebRTC seat left; try again shortly "
                "(HLS, when offered, has no seat limit)."
            )
        mine = self._by_address.get(address, set())
        if len(mine) >= limits.pending_per_address:
            soonest = min(seat.expires_at for seat in mine)
            raise TooManyPending(max(1, math.ceil(soonest - now)))
        seat = Seat(special_id, address, now + limits.pending_s)
        self._pending[special_id].add(seat)
        self._by_address[address].add(seat)
        return seat

    def settle(self, seat: Seat) -> None:
        """The seat connected, or its viewer is gone: it is no longer pending (idempotent)."""
        if not seat.pending:
            return
        seat.pending = False
        _discard(self._pending, seat.special_id, seat)
        _discard(self._by_address, seat.address, seat)

    def pending_in(self, special_id: int) -> int:
        return len(self._pending.get(special_id, ()))

    def pending_total(self) -> int:
        return sum(len(seats) for seats in self._pending.values())

    def pending_for(self, address: str) -> int:
        return len(self._by_address.get(address, ()))

    def _sweep(self, now: float) -> None:
        expired = [
            seat for seats in self._pending.values() for seat in seats if seat.expires_at <= now
        ]
        for seat in expired:
            self.settle(seat)


def _discard(index: dict[Any, set[Seat]], key: object, seat: Seat) -> None:
    seats = index.get(key)
    if seats is not None:
        seats.discard(seat)
        if not seats:
            del index[key]
