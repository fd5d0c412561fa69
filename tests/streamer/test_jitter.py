"""Unrepaired ingest loss: the jitter buffer skips the hole after a while and says so."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from livemarket.streamer.jitter import LossAwareJitterBuffer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _packet(sequence: int, frame: int) -> RtpPacket:
    """Packet ``sequence`` of video frame ``frame`` (two packets per frame)."""
    packet = RtpPacket(payload_type=96, sequence_number=sequence, timestamp=frame * 3000)
    packet._data = bytes([frame, sequence & 0xFF])  # type: ignore[attr-defined]  # depayloaded
    return packet


def _feed(
    buffer: LossAwareJitterBuffer, clock: Clock, frames: range, lost: set[int]
) -> list[JitterFrame]:
    out = []
    for frame in frames:
        clock.now = frame / 30
        for sequence in (2 * frame, 2 * frame + 1):
            if sequence not in lost:
                _, ready = buffer.add(_packet(sequence, frame))
                if ready is not None:
                    out.append(ready)
    return out


def test_a_hole_is_skipped_after_the_give_up_time_and_reported() -> None:
    """Frames stall behind a lost packet only for give_up_s, then flow again."""
    clock = Clock()
    losses: list[float] = []
    buffer = LossAwareJitterBuffer(lambda: losses.append(clock.now), give_up_s=0.3, clock=clock)
    out = _feed(buffer, clock, range(30), lost={10})  # frame 5 loses its first packet
    timestamps = [frame.timestamp // 3000 for frame in out]
    assert timestamps[:4] == [0, 1, 2, 3]
    assert 4 not in timestamps and 5 not in timestamps  # cut by the hole: dropped
    # reported one packet interval after give_up_s without a frame (frame 3 came at 4/30 s)
    assert len(losses) == 1 and 0.3 <= losses[0] - 4 / 30 < 0.3 + 1 / 30 + 1e-9
    after = timestamps[4:]
    assert after == list(range(after[0], 29))  # whole frames again, in order
    assert after[0] <= 6 + 0.4 * 30
    assert buffer.losses == 1


def test_no_loss_no_report() -> None:
    """A clean stream, even a slow one, is never cut."""
    clock = Clock()
    losses: list[float] = []
    buffer = LossAwareJitterBuffer(lambda: losses.append(clock.now), give_up_s=0.3, clock=clock)
    out = _feed(buffer, clock, range(20), lost=set())
    assert [frame.timestamp // 3000 for frame in out] == list(range(19))
    assert losses == []


def test_a_repaired_hole_is_not_a_loss() -> None:
    """A packet retransmitted in time (NACK worked) fills the hole: nothing is skipped."""
    clock = Clock()
    losses: list[float] = []
    buffer = LossAwareJitterBuffer(lambda: losses.append(clock.now), give_up_s=0.3, clock=clock)
    out = _feed(buffer, clock, range(8), lost={6})
    clock.now += 0.1
    _, ready = buffer.add(_packet(6, 3))  # the retransmission
    assert ready is not None  # the stream moves again (one frame out per packet in)
    out.append(ready)
    out += _feed(buffer, clock, range(8, 12), lost=set())
    assert [frame.timestamp // 3000 for frame in out] == list(range(11))
    assert losses == []
