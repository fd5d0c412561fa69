"""The workers' restart policy: back at once, then backing off, then giving up."""

from __future__ import annotations

import pytest

from livemarket.web.restarts import CrashLoop, RestartPolicy


def test_a_first_crash_restarts_at_once_and_later_ones_back_off() -> None:
    """Delays 0, 0.5, 1, 2 ... within the window, capped; each worker counted alone."""
    policy = RestartPolicy(limit=10, first_backoff_s=0.5, max_backoff_s=3.0)
    delays = [policy.crashed(0, now) for now in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 3.0]
    assert policy.crashed(1, 5.0) == 0.0


def test_crashes_older_than_the_window_are_forgotten() -> None:
    """A worker that ran well for a window starts from a clean slate."""
    policy = RestartPolicy(limit=3, window_s=60.0)
    assert policy.crashed(0, 0.0) == 0.0
    assert policy.crashed(0, 10.0) == 0.5
    assert policy.crashed(0, 100.0) == 0.0
    assert policy.crashed(0, 110.0) == 0.5


def test_the_limit_th_crash_within_the_window_is_a_crash_loop() -> None:
    """The message names the worker, the count, the window and the last exit code."""
    policy = RestartPolicy(limit=3, window_s=60.0)
    policy.crashed(1, 0.0)
    policy.crashed(1, 1.0)
    with pytest.raises(
        CrashLoop, match=r"^worker 1 exited 3 times within 60 s \(last exit code 3\)"
    ):
        policy.crashed(1, 2.0, exitcode=3)
