"""Keyframe gates, keyframe throttle, timeline and rates, without a network."""

from __future__ import annotations

from livemarket.streamer.figures import RateMeter
from livemarket.streamer.forwarding import KeyframeGate
from livemarket.streamer.keyframes import KeyframeThrottle


def test_gate_starts_at_a_keyframe() -> None:
    """A new viewer gets nothing before the first keyframe, then the whole chain."""
    gate = KeyframeGate()
    assert gate.admit(keyframe=False) is False
    assert gate.waiting_for_keyframe  # the caller asks the publisher for one
    assert gate.admit(keyframe=True) is True
    assert gate.admit(keyframe=False) is True
    assert not gate.waiting_for_keyframe
    assert (gate.forwarded, gate.dropped, gate.skips) == (2, 1, 0)


def test_viewer_losing_a_frame_skips_to_the_next_keyframe() -> None:
    """A frame lost to a full socket breaks the viewer's chain until a keyframe."""
    gate = KeyframeGate()
    gate.admit(keyframe=True)
    assert gate.admit(keyframe=False) is True
    gate.break_chain()  # that frame could not be sent
    assert gate.waiting_for_keyframe and gate.skips == 1
    assert gate.admit(keyframe=False) is False
    assert gate.admit(keyframe=True) is True
    assert gate.admit(keyframe=False) is True
    assert (gate.forwarded, gate.dropped, gate.skips) == (4, 1, 1)


def test_broken_chain_waits_for_a_keyframe() -> None:
    """Ingest loss breaks the chain once, however often it is reported while waiting."""
    gate = KeyframeGate()
    gate.admit(keyframe=True)
    gate.break_chain()
    gate.break_chain()
    assert [gate.admit(keyframe=False), gate.admit(keyframe=True)] == [False, True]
    assert gate.skips == 1


def test_audio_is_not_gated() -> None:
    """Audio frames stand alone: a lost one does not hold back the next."""
    gate = KeyframeGate(gated=False)
    assert gate.admit(keyframe=False) is True
    gate.break_chain()
    assert gate.admit(keyframe=False) is True
    assert not gate.waiting_for_keyframe and gate.skips == 0


def test_restart_waits_for_the_new_streams_keyframe() -> None:
    """After a publisher change the viewer waits for the new stream's keyframe."""
    gate = KeyframeGate()
    gate.admit(keyframe=True)
    gate.restart()
    assert gate.waiting_for_keyframe and gate.skips == 0
    assert gate.admit(keyframe=False) is False


def test_many_joiners_cause_one_keyframe_request() -> None:
    """Requests within the retry interval are suppressed until a keyframe arrives."""
    throttle = KeyframeThrottle(retry_s=0.5)
    assert throttle.request(10.0) is True
    assert [throttle.request(10.0 + i / 100) for i in range(1, 40)] == [False] * 39
    assert throttle.request(10.6) is True  # lost request: retry after the interval
    throttle.keyframe_arrived()
    assert throttle.request(10.91) is True  # answered: the next joiner asks again
    assert throttle.sent == 3 and throttle.suppressed == 39


def test_a_crowd_of_joiners_is_spaced_even_when_keyframes_come_at_once() -> None:
    """A keyframe answers a request, but the next one waits out the minimum interval."""
    throttle = KeyframeThrottle(retry_s=0.5, min_interval_s=0.3)
    assert throttle.request(1.0) is True
    throttle.keyframe_arrived()
    assert throttle.request(1.1) is False  # a joiner right after: too soon
    assert throttle.request(1.3) is True  # the gate asks again with every frame
    throttle.reset()  # a new publisher: its first request goes out at once
    assert throttle.request(1.31) is True


def test_rate_meter_windows() -> None:
    """Frames per second and bits per second cover the last window only."""
    meter = RateMeter(window_s=1.0)
    for i in range(30):
        meter.add(i / 30, 1000)
    assert meter.per_second(29 / 30) == 30
    assert meter.bits_per_second(29 / 30) == 240000
    assert meter.per_second(5.0) == 0
    assert meter.total_events == 30
