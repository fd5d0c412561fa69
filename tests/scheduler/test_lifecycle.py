"""The lifecycle: transitions, the clock's status, catch-up and the go-live window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livemarket.errors import DomainError
from livemarket.scheduler.lifecycle import (
    Status,
    can_transition,
    catch_up_target,
    check_end,
    check_go_live,
    check_transition,
    parse_status,
    status_at,
)

START = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def test_allowed_transitions() -> None:
    """scheduled→live→ended, and cancel from scheduled or live; nothing leaves a final state."""
    assert can_transition("scheduled", "live")
    assert can_transition("live", "ended")
    assert can_transition("scheduled", "cancelled")
    assert can_transition("live", "cancelled")
    assert not can_transition("scheduled", "ended")
    assert not can_transition("ended", "live")
    assert not can_transition("cancelled", "scheduled")
    assert not can_transition("live", "scheduled")
    with pytest.raises(DomainError) as info:
        check_transition("ended", "cancelled")
    assert info.value.code == "invalid_transition"


def test_unknown_status_is_refused() -> None:
    """A made-up status name gets its own error code."""
    assert parse_status("live") is Status.LIVE
    with pytest.raises(DomainError) as info:
        parse_status("paused")
    assert info.value.code == "invalid_status"


def test_status_at_is_half_open() -> None:
    """Live from the start inclusive until the end exclusive."""
    assert status_at(START - timedelta(seconds=1), START, END) is Status.SCHEDULED
    assert status_at(START, START, END) is Status.LIVE
    assert status_at(END - timedelta(seconds=1), START, END) is Status.LIVE
    assert status_at(END, START, END) is Status.ENDED


def test_catch_up_only_moves_forward() -> None:
    """Catch-up goes live inside the slot, ends past it, and never undoes a host's action."""
    inside = START + timedelta(minutes=5)
    after = END + timedelta(minutes=5)
    assert catch_up_target("scheduled", inside, START, END) is Status.LIVE
    assert catch_up_target("scheduled", after, START, END) is Status.ENDED
    assert catch_up_target("live", after, START, END) is Status.ENDED
    assert catch_up_target("live", inside, START, END) is None
    assert catch_up_target("live", START - timedelta(minutes=5), START, END) is None
    assert catch_up_target("ended", inside, START, END) is None
    assert catch_up_target("cancelled", after, START, END) is None
    assert catch_up_target("scheduled", START - timedelta(minutes=1), START, END) is None


def test_go_live_early_window() -> None:
    """A host may go live up to the allowed minutes early, and not after the slot."""
    check_go_live("scheduled", START - timedelta(minutes=15), START, END, 15)
    with pytest.raises(DomainError) as info:
        check_go_live("scheduled", START - timedelta(minutes=16), START, END, 15)
    assert info.value.code == "too_early"
    with pytest.raises(DomainError) as info:
        check_go_live("scheduled", END, START, END, 15)
    assert info.value.code == "slot_over"
    with pytest.raises(DomainError) as info:
        check_go_live("live", START, START, END, 15)
    assert info.value.code == "invalid_transition"


def test_end_needs_a_live_special() -> None:
    """Only a live special can be ended early."""
    check_end("live")
    with pytest.raises(DomainError) as info:
        check_end("scheduled")
    assert info.value.code == "not_live"
