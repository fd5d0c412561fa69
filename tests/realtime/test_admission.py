"""Realtime socket seats: per special, per server and per address; staff uncounted (no I/O)."""

from __future__ import annotations

import pytest

from livemarket.errors import DomainError, ErrorKind
from livemarket.realtime.admission import SocketSeats
from livemarket.streamer.admission import RoomFull


def test_an_address_is_capped_and_released_sockets_free_it() -> None:
    """The third socket from one address is refused (429 kind); a closed one frees a place."""
    seats = SocketSeats(per_special=10, per_server=10, per_address=2)
    first, second = object(), object()
    seats.take(first, 1, "a", staff=False)
    seats.take(second, 2, "a", staff=False)
    with pytest.raises(DomainError) as refused:
        seats.take(object(), 1, "a", staff=False)
    assert refused.value.kind is ErrorKind.LIMITED
    assert refused.value.code == "too_many_sockets"
    seats.release(first)
    seats.release(first)
    seats.take(object(), 1, "a", staff=False)
    assert seats.from_address("a") == 2
    assert seats.total == 2


def test_special_and_server_caps_refuse_with_room_full() -> None:
    """Past the special's or the server's cap a socket gets room_full."""
    seats = SocketSeats(per_special=2, per_server=3, per_address=10)
    for address in "ab":
        seats.take(object(), 1, address, staff=False)
    with pytest.raises(RoomFull):
        seats.take(object(), 1, "c", staff=False)
    seats.take(object(), 2, "c", staff=False)
    with pytest.raises(RoomFull, match="server"):
        seats.take(object(), 3, "d", staff=False)


def test_staff_are_neither_refused_nor_counted() -> None:
    """A host or operator gets in to a full room, and takes nobody's place."""
    seats = SocketSeats(per_special=1, per_server=1, per_address=1)
    seats.take(object(), 1, "a", staff=False)
    staff = object()
    seats.take(staff, 1, "a", staff=True)
    seats.release(staff)
    assert seats.count(1) == 1
    assert seats.total == 1
