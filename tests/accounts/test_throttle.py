"""The login throttle on plain numbers: a window of failures, then a wait, then forgiveness."""

from livemarket.accounts.throttle import SlidingWindow


def test_fifth_failure_blocks_until_the_window_passes() -> None:
    """Five failures in a minute block the key; the block ends when the first failure ages out."""
    throttle = SlidingWindow(max_events=5, window_s=60)
    for second in range(5):
        assert throttle.retry_after("user:a", now=float(second)) == 0
        throttle.record("user:a", now=float(second))
    assert throttle.retry_after("user:a", now=10.0) == 50.0
    assert throttle.retry_after("user:b", now=10.0) == 0
    assert throttle.retry_after("user:a", now=60.5) == 0


def test_success_forgives_and_memory_is_bounded() -> None:
    """A success clears the key's failures; past max_keys the oldest key is forgotten."""
    throttle = SlidingWindow(max_events=1, window_s=60, max_keys=2)
    throttle.record("a", 0)
    throttle.forget("a")
    assert throttle.retry_after("a", 1) == 0
    for key in ("x", "y", "z"):
        throttle.record(key, 0)
    assert throttle.retry_after("x", 1) == 0
    assert throttle.retry_after("z", 1) > 0
