"""Per-viewer forwarding state, keyframe throttle, timeline and rates, without a network."""

from __future__ import annotations

import pytest

from livemarket.streamer.figures import RateMeter
from livemarket.streamer.forwarding import ViewerQueue
from livemarket.streamer.keyframes import KeyframeThrottle
from livemarket.streamer.timeline import Timeline


def test_gated_queue_starts_at_a_keyframe() -> None:
    """A new viewer gets nothing before the first keyframe, and asks for one."""
    queue: ViewerQueue[str] = ViewerQueue(5, gated=True)
    assert queue.offer("p1", keyframe=False) is True
    assert queue.pop() is None
    assert queue.offer("k", keyframe=True) is False
    assert queue.offer("p2", keyframe=False) is False
    assert [queue.pop(), queue.pop(), queue.pop()] == ["k", "p2", None]
    assert queue.dropped == 1


def test_viewer_behind_skips_to_next_keyframe_and_stays_bounded() -> None:
    """A stalled viewer never holds more than capacity frames; it resumes at a keyframe."""
    queue: ViewerQueue[int] = ViewerQueue(4, gated=True, catch_up=100)
    queue.offer(0, keyframe=True)
    asked = [queue.offer(i, keyframe=False) for i in range(1, 10)]
    assert len(queue) <= 4
    assert asked[4] is True  # the overflow asks for a keyframe
    assert queue.waiting_for_keyframe
    queue.offer(10, keyframe=True)
    assert queue.pop() == 10
    assert queue.skips == 1


def test_keyframe_lets_a_lagging_viewer_catch_up() -> None:
    """With catch_up frames queued, an arriving keyframe replaces the backlog."""
    queue: ViewerQueue[int] = ViewerQueue(10, gated=True, catch_up=3)
    queue.offer(0, keyframe=True)
    for i in range(1, 4):
        queue.offer(i, keyframe=False)
    queue.offer(99, keyframe=True)
    assert queue.pop() == 99
    assert len(queue) == 0


def test_audio_queue_drops_oldest() -> None:
    """Audio is not gated; when full, the oldest packet goes."""
    queue: ViewerQueue[int] = ViewerQueue(2, gated=False)
    for i in range(4):
        assert queue.offer(i, keyframe=False) is False
    assert [queue.pop(), queue.pop()] == [2, 3]


def test_restart_waits_for_the_new_streams_keyframe() -> None:
    """After a publisher change the viewer waits for the new stream's keyframe."""
    queue: ViewerQueue[int] = ViewerQueue(5, gated=True)
    queue.offer(0, keyframe=True)
    queue.offer(1, keyframe=False)
    queue.restart()
    assert queue.pop() is None and queue.waiting_for_keyframe
    with pytest.raises(ValueError):
        ViewerQueue(0, gated=True)


def test_many_joiners_cause_one_keyframe_request() -> None:
    """Requests within the retry interval are suppressed until a keyframe arrives."""
    throttle = KeyframeThrottle(retry_s=0.5)
    assert throttle.request(10.0) is True
    assert [throttle.request(10.0 + i / 100) for i in range(1, 40)] == [False] * 39
    assert throttle.request(10.6) is True  # lost request: retry after the interval
    throttle.keyframe_arrived()
    assert throttle.request(10.61) is True  # answered: the next joiner asks again
    assert throttle.sent == 3 and throttle.suppressed == 39


def test_timeline_is_continuous_across_sources() -> None:
    """A new source's timestamps continue after the old ones by the wall time elapsed."""
    timeline = Timeline(90000)
    assert timeline.map(0, 0.0) == 0
    assert timeline.map(3000, 0.033) == 3000
    timeline.new_source()
    spliced = timeline.map(0, 2.033)  # a new publisher starts again at zero, 2 s later
    assert spliced == 3000 + 180000
    assert timeline.map(3000, 2.066) == spliced + 3000
    assert timeline.map(0, 2.1) == spliced + 3000  # never backwards


def test_rate_meter_windows() -> None:
    """Frames per second and bits per second cover the last window only."""
    meter = RateMeter(window_s=1.0)
    for i in range(30):
        meter.add(i / 30, 1000)
    assert meter.per_second(29 / 30) == 30
    assert meter.bits_per_second(29 / 30) == 240000
    assert meter.per_second(5.0) == 0
    assert meter.total_events == 30
