"""Who may publish, and when: plain rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livemarket.errors import DomainError, ErrorKind, Forbidden
from livemarket.streamer.rules import check_publish_window, check_publisher

START = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def test_only_the_host_or_an_operator_publishes() -> None:
    """The special's host and operators pass; another host's key counts as a wrong key."""
    check_publisher("host", 3, 3)
    check_publisher("operator", 9, 3)
    with pytest.raises(DomainError) as refused:
        check_publisher("host", 4, 3)
    assert refused.value.kind is ErrorKind.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("status", "now", "allowed"),
    [
        ("live", START + timedelta(minutes=30), True),
        ("scheduled", START - timedelta(minutes=15), True),  # the early window opens
        ("scheduled", START - timedelta(minutes=16), False),
        ("scheduled", START + timedelta(minutes=5), True),  # runner late: still fine
        ("scheduled", END, False),
        ("ended", START + timedelta(minutes=5), False),
        ("cancelled", START, False),
    ],
)
def test_publish_window(status: str, now: datetime, allowed: bool) -> None:
    """Publishing is open while live or from go_live_early_minutes before the start."""
    if allowed:
        check_publish_window(status, START, END, now, 15)
    else:
        with pytest.raises(Forbidden):
            check_publish_window(status, START, END, now, 15)
