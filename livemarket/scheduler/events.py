"""The events the calendar publishes on the bus, shaped as the realtime contract's frames.

- ``special.status`` on ``special_topic(id)``: a special went live, ended, was
  cancelled or moved; connected viewers' pages follow it.
- ``calendar.changed`` on ``CALENDAR_TOPIC``: any write; every instance's runner
  re-derives that special's jobs from the database, and the console refreshes.
- ``reminder`` on ``viewer_topic(key)`` for each viewer who asked, and once on
  ``special_topic(id)``: the show starts in ten minutes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from livemarket.bus import catalogue


class _SpecialLike(Protocol):
    id: int
    title: str
    status: str
    starts_at: datetime
    ends_at: datetime
    went_live_at: datetime | None
    ended_at: datetime | None
    version: int


def viewer_topic(viewer_key: str) -> str:
    """The topic for one viewer (by session viewer key), for events meant only for them."""
    return f"viewer:{viewer_key}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def status_event(special: _SpecialLike) -> catalogue.SpecialStatus:
    """``special.status``: where the special stands now, with its (possibly moved) times."""
    return catalogue.SpecialStatus(
        type=catalogue.SPECIAL_STATUS,
        special_id=special.id,
        status=special.status,
        starts_at=special.starts_at.isoformat(),
        ends_at=special.ends_at.isoformat(),
        went_live_at=_iso(special.went_live_at),
        ended_at=_iso(special.ended_at),
        version=special.version,
    )


def calendar_changed(special_id: int, action: str) -> catalogue.CalendarChanged:
    """``calendar.changed``: ``action`` is created, updated, cancelled, deleted or status."""
    return catalogue.CalendarChanged(
        type=catalogue.CALENDAR_CHANGED, special_id=special_id, action=action
    )


def reminder_event(special: _SpecialLike, url: str) -> catalogue.Reminder:
    """``reminder``: the special starts soon; ``url`` is its watch page (path)."""
    return catalogue.Reminder(
        type=catalogue.REMINDER,
        special_id=special.id,
        title=special.title,
        starts_at=special.starts_at.isoformat(),
        url=url,
    )


def planned_deal_refused(
    special_id: int, planned_deal_id: int, product_id: int, code: str, message: str
) -> catalogue.PlannedDealRefused:
    """``planned_deal.refused``: a planned deal was due but refused (``code`` says why).

    For the studio: the host (or the operator there) sees why it did not start.
    """
    return catalogue.PlannedDealRefused(
        type=catalogue.PLANNED_DEAL_REFUSED,
        special_id=special_id,
        planned_deal_id=planned_deal_id,
        product_id=product_id,
        code=code,
        message=message,
    )
