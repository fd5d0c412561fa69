"""Viewer seats: caps, the pending budget per address, and the grace (no I/O)."""

from __future__ import annotations

import pytest

from livemarket.streamer.admission import (
    SeatBook,
    SeatLimits,
    TooManyPending,
    WebRtcSeatsFull,
)

LIMITS = SeatLimits(per_special=5, per_server=8, pending_per_address=2, pending_s=10.0)


def _book() -> SeatBook:
    return SeatBook(LIMITS)


def test_an_address_gets_only_its_pending_budget() -> None:
    """A third unconnected seat from one address is 429, with the wait until its oldest expires."""
    book = _book()
    book.reserve(1, "a", 0.0, connected=0, connected_total=0)
    book.reserve(1, "a", 3.0, connected=0, connected_total=0)
    with pytest.raises(TooManyPending) as refused:
        book.reserve(1, "a", 4.0, connected=0, connected_total=0)
    assert refused.value.details["retry_after"] == 6
    assert refused.value.code == "too_many_pending"
    book.reserve(1, "b", 4.0, connected=0, connected_total=0)  # others are not affected
    assert book.pending_for("a") == 2


def test_settling_frees_the_address_budget_once() -> None:
    """A seat that connected (or whose viewer left) no longer counts; settling twice is harmless."""
    book = _book()
    seat = book.reserve(1, "a", 0.0, connected=0, connected_total=0)
    book.reserve(1, "a", 0.0, connected=0, connected_total=0)
    book.settle(seat)
    book.settle(seat)
    assert book.pending_for("a") == 1
    assert book.pending_in(1) == 1
    book.reserve(1, "a", 0.0, connected=1, connected_total=1)
    assert book.pending_total() == 2


def test_pending_seats_expire_after_the_grace() -> None:
    """Seats never settled stop counting after ``pending_s``: the room and the address are free."""
    book = _book()
    for address in "abc":
        book.reserve(1, address, 0.0, connected=2, connected_total=2)
    with pytest.raises(WebRtcSeatsFull):
        book.reserve(1, "d", 9.9, connected=2, connected_total=2)
    book.reserve(1, "d", 10.0, connected=2, connected_total=2)
    assert book.pending_total() == 1


def test_caps_count_connected_and_pending_seats() -> None:
    """The special's cap and the server's cap each count connected plus pending seats.

    Both refusals say ``webrtc_seats_full`` (not the chat's ``room_full``): the watch
    page reads that code to switch to HLS at once.
    """
    book = _book()
    book.reserve(1, "a", 0.0, connected=3, connected_total=3)
    with pytest.raises(WebRtcSeatsFull) as special_full:
        book.reserve(1, "b", 0.0, connected=4, connected_total=4)
    assert special_full.value.details["retry_after"] > 0
    assert special_full.value.code == "webrtc_seats_full"
    with pytest.raises(WebRtcSeatsFull, match="server") as server_full:
        book.reserve(2, "b", 0.0, connected=0, connected_total=7)
    assert server_full.value.code == "webrtc_seats_full"
    book.reserve(2, "b", 0.0, connected=0, connected_total=6)
