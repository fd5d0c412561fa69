"""The fan-out core with in-memory sinks and a hand-driven clock (no loop, no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from livemarket.realtime import fanout
from livemarket.realtime.fanout import Connection, Room


class FakeTimer:
    def __init__(self, clock: FakeClock, when: float, callback: Callable[[], object]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False
        clock.timers.append(self)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A scheduler whose time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Callable[[], object]) -> FakeTimer:
        return FakeTimer(self, self.now, callback)

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeTimer:
        return FakeTimer(self, self.now + delay, callback)

    def advance(self, seconds: float = 0.0) -> None:
        self.now += seconds
        while True:
            due = [t for t in self.timers if t.when <= self.now and not t.cancelled]
            if not due:
                return
            for timer in due:
                self.timers.remove(timer)
                timer.callback()


class FakeSink:
    """Records frames; ``stuck`` makes it behave like a client that stopped reading."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.stuck = False
        self.aborted = False
        self.closed_with: bytes | None = None

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def buffered(self) -> int:
        return 10 * fanout.HIGH_WATER if self.stuck else 0

    def close(self, last: bytes) -> None:
        self.closed_with = last

    def abort(self) -> None:
        self.aborted = True

    def direct_fd(self) -> int:
        return -1  # no socket: always written through ``write``

    def events(self) -> list[dict[str, Any]]:
        """Every event received, batches unpacked."""
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            assert frame[0] == 0x81  # FIN + text
            length = frame[1]
            offset = 2
            if length == 126:
                length, offset = int.from_bytes(frame[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(frame[2:10], "big"), 10
            payload = json.loads(frame[offset : offset + length])
            assert len(frame) == offset + length
            out.extend(payload["events"] if payload["type"] == "batch" else [payload])
        return out


def make_room(n: int) -> tuple[FakeClock, Room, list[FakeSink]]:
    clock = FakeClock()
    room = Room(1, clock, window_s=0.1)
    sinks = [FakeSink() for _ in range(n)]
    for sink in sinks:
        room.add(Connection(sink))
    return clock, room, sinks


def test_one_event_reaches_everyone_as_one_shared_frame() -> None:
    """A lone event goes out at once, the same bytes object for every connection."""
    clock, room, sinks = make_room(3)
    room.publish({"type": "chat", "text": "안녕"})
    clock.advance()
    assert all(len(s.frames) == 1 for s in sinks)
    assert sinks[0].frames[0] is sinks[1].frames[0]
    assert sinks[2].events() == [{"type": "chat", "text": "안녕", "seq": 1}]


def test_events_within_a_window_become_one_batch_with_newest_state() -> None:
    """Under load a window's events arrive as one batch; stock keeps only its newest value."""
    clock, room, sinks = make_room(2)
    room.publish({"type": "chat", "text": "first"})
    clock.advance()
    for i in range(5):
        room.publish({"type": "chat", "text": f"m{i}"})
        room.publish({"type": "stock", "product_id": 7, "remaining": 10 - i})
    room.publish({"type": "stock", "product_id": 8, "remaining": 3})
    clock.advance(0.05)
    assert len(sinks[0].frames) == 1  # still inside the window
    clock.advance(0.05)
    events = sinks[0].events()
    assert len(sinks[0].frames) == 2
    assert [e["text"] for e in events if e["type"] == "chat"] == ["first"] + [
        f"m{i}" for i in range(5)
    ]
    stock = [e for e in events if e["type"] == "stock"]
    assert stock == [
        {"type": "stock", "product_id": 7, "remaining": 6, "seq": 11},
        {"type": "stock", "product_id": 8, "remaining": 3, "seq": 12},
    ]


def test_a_stuck_client_does_not_hold_back_the_others_and_is_dropped() -> None:
    """Others keep receiving while a non-reading client queues, coalesced, then is dropped."""
    clock, room, sinks = make_room(3)
    slow = sinks[0]
    slow.stuck = True
    for i in range(3):
        room.publish({"type": "viewers", "count": i})
        clock.advance(0.2)
    assert [e["count"] for e in sinks[1].events()] == [0, 1, 2]
    slow_connection = next(c for c in room.connections if c.sink is slow)
    assert slow_connection.pending_count() == 1  # three counts coalesced into the newest
    for i in range(fanout.MAX_PENDING + 1):
        room.publish({"type": "chat", "text": str(i)})
    clock.advance(0.2)
    assert slow.aborted
    assert slow_connection not in room.connections
    assert len(sinks[2].events()) == 3 + fanout.MAX_PENDING + 1


def test_a_client_that_catches_up_gets_its_backlog_in_one_frame() -> None:
    """When the transport drains, the queued events are written as one batch, in order."""
    clock, room, sinks = make_room(1)
    sinks[0].stuck = True
    room.publish({"type": "chat", "text": "a"})
    clock.advance(0.2)
    room.publish({"type": "likes", "count": 5})
    room.publish({"type": "chat", "text": "b"})
    clock.advance(0.2)
    assert sinks[0].frames == []
    sinks[0].stuck = False
    clock.advance(fanout.DRAIN_S)
    assert len(sinks[0].frames) == 1
    assert [e.get("text", e.get("count")) for e in sinks[0].events()] == ["a", 5, "b"]


def test_a_client_backlogged_too_long_is_dropped() -> None:
    """A client that never reads again is dropped after the stall timeout."""
    clock, room, sinks = make_room(1)
    sinks[0].stuck = True
    room.publish({"type": "chat", "text": "a"})
    clock.advance(0.1)
    for _ in range(int(fanout.STALL_S / fanout.DRAIN_S) + 2):
        clock.advance(fanout.DRAIN_S)
    assert sinks[0].aborted
    assert not room.connections


def test_resume_replays_missed_events_but_not_state() -> None:
    """A reconnect within the same room life gets missed chat, not stale counters."""
    clock, room, _ = make_room(1)
    room.publish({"type": "chat", "text": "a"})
    room.publish({"type": "viewers", "count": 3})
    room.publish({"type": "chat", "text": "b"})
    missed = room.missed_since(room.epoch, 1)
    assert missed is not None
    assert [json.loads(t)["text"] for t in missed] == ["b"]
    assert room.missed_since(room.epoch, 3) == []
    assert room.missed_since("other-life", 1) is None
    assert room.missed_since(room.epoch, 99) is None


def test_resume_too_far_back_is_refused() -> None:
    """When the replay buffer no longer reaches back, resume says so (fresh snapshot only)."""
    clock = FakeClock()
    room = Room(1, clock, replay_size=5)
    for i in range(10):
        room.publish({"type": "chat", "text": str(i)})
    assert room.missed_since(room.epoch, 2) is None
    assert room.missed_since(room.epoch, 5) is not None


def test_close_all_sends_close_frames() -> None:
    """Shutdown writes a close frame with the given code to every connection."""
    _, room, sinks = make_room(2)
    room.close_all(1001, "server shutdown")
    for sink in sinks:
        assert sink.closed_with is not None
        assert sink.closed_with[0] == 0x88
        assert int.from_bytes(sink.closed_with[2:4], "big") == 1001
    assert not room.connections
