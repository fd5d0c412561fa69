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
from typing import Any, Protocol


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


def status_event(special: _SpecialLike) -> dict[str, Any]:
    """``special.status``: where the special stands now, with its (possibly moved) times."""
    return {
        "type": "special.status",
        "special_id": special.id,
        "status": special.status,
        "starts_at": special.starts_at.isoformat(),
        "ends_at": special.ends_at.isoformat(),
        "went_live_at": _iso(special.went_live_at),
        "ended_at": _iso(special.ended_at),
        "version": special.version,
    }


def calendar_changed(special_id: int, action: str) -> dict[str, Any]:
    """``calendar.changed``: ``action`` is created, updated, cancelled, deleted or status."""
    return {"type": "calendar.changed", "special_id": special_id, "action": action}


def reminder_event(special: _SpecialLike, url: str) -> dict[str, Any]:
    """``reminder``: the special starts soon; ``url`` is its watch page (path)."""
    return {
        "type": "reminder",
        "special_id": special.id,
        "title": special.title,
        "starts_at": special.starts_at.isoformat(),
        "url": url,
    }


def planned_deal_refused(
    special_id: int, planned_deal_id: int, product_id: int, code: str, message: str
) -> dict[str, Any]:
    """``planned_deal.refused``: a planned deal was due but refused (``code`` says why).

    For the studio: the host (or the operator there) sees why it did not start.
    """
    return {
        "type": "planned_deal.refused",
        "special_id": special_id,
        "planned_deal_id": planned_deal_id,
        "product_id": product_id,
        "code": code,
        "message": message,
    }
