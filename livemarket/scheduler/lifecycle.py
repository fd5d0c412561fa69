"""A special's lifecycle: its statuses, the allowed transitions, and the clock's view of it.

``scheduled → live → ended``, and ``cancelled`` from ``scheduled`` or ``live``.
A live special may be cancelled: an operator pulls a show off the air (the room
closes, the calendar says "cancelled", not "ended", so nobody mistakes it for a
show that ran its course). Ended and cancelled are final.

Pure functions only: the runner and the studio endpoints apply these rules with
a conditional ``UPDATE … WHERE status = <expected>``, so a transition happens once
even when two server instances try it at the same moment.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from livemarket.errors import Conflict, DomainError


class Status(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


#: Every allowed move, as (from, to).
TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.SCHEDULED, Status.LIVE),
        (Status.LIVE, Status.ENDED),
        (Status.SCHEDULED, Status.CANCELLED),
        (Status.LIVE, Status.CANCELLED),
    }
)

#: Statuses that occupy their slot in the calendar (count for overlap checks).
ACTIVE: frozenset[Status] = frozenset({Status.SCHEDULED, Status.LIVE, Status.ENDED})
FINAL: frozenset[Status] = frozenset({Status.ENDED, Status.CANCELLED})


def parse_status(value: str) -> Status:
    """The status named ``value``, or ``invalid_status``."""
    try:
        return Status(value)
    except ValueError:
        raise DomainError(
            "invalid_status", f"unknown status {value!r}; one of scheduled, live, ended, cancelled"
        ) from None


def can_transition(current: Status | str, target: Status | str) -> bool:
    """True when ``current → target`` is one of the lifecycle's moves."""
    return (Status(current), Status(target)) in TRANSITIONS


def check_transition(current: Status | str, target: Status | str) -> None:
    """Raise ``invalid_transition`` (409) unless ``current → target`` is allowed."""
    if not can_transition(current, target):
        raise Conflict(
            "invalid_transition",
            f"a {Status(current).value} special cannot become {Status(target).value}",
            status=Status(current).value,
        )


def status_at(now: datetime, starts_at: datetime, ends_at: datetime) -> Status:
    """The status the clock says a (not cancelled) special should have at ``now``.

    The slot is half-open: live from ``starts_at`` inclusive until ``ends_at``
    exclusive. Used for catch-up after downtime and by the demo seeder.
    """
    if now < starts_at:
        return Status.SCHEDULED
    if now < ends_at:
        return Status.LIVE
    return Status.ENDED


def catch_up_target(
    current: Status | str, now: datetime, starts_at: datetime, ends_at: datetime
) -> Status | None:
    """Where the runner should move a special whose jobs may have been missed, or None.

    Only ever moves forward along the lifecycle: a special a host went live with
    early stays live; a special ended early stays ended; cancelled never changes.
    A scheduled special whose whole slot passed goes straight to ended.
    """
    current = Status(current)
    due = status_at(now, starts_at, ends_at)
    if current is Status.SCHEDULED and due is Status.LIVE:
        return Status.LIVE
    if current in (Status.SCHEDULED, Status.LIVE) and due is Status.ENDED:
        return Status.ENDED
    return None


def go_live_window(
    starts_at: datetime, ends_at: datetime, early_minutes: int
) -> tuple[datetime, datetime]:
    """When a host may go live by hand: from ``early_minutes`` before start until the end."""
    return starts_at - timedelta(minutes=early_minutes), ends_at


def check_go_live(
    current: Status | str,
    now: datetime,
    starts_at: datetime,
    ends_at: datetime,
    early_minutes: int,
) -> None:
    """Raise unless a host may take this special live by hand at ``now``."""
    check_transition(current, Status.LIVE)
    opens, closes = go_live_window(starts_at, ends_at, early_minutes)
    if now < opens:
        raise Conflict(
            "too_early",
            f"a special can go live at most {early_minutes} minutes before its start",
            opens_at=opens.isoformat(),
        )
    if now >= closes:
        raise Conflict("slot_over", "this special's slot is over; it can no longer go live")


def check_end(current: Status | str) -> None:
    """Raise unless a host may end this special by hand now (it must be live)."""
    if Status(current) is not Status.LIVE:
        raise Conflict("not_live", "only a live special can be ended", status=Status(current).value)
