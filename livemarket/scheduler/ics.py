"""iCalendar (RFC 5545) export of the season and of one special, with the ``icalendar`` library.

Times are written in the display zone (Asia/Seoul) with a ``TZID`` and the
matching ``VTIMEZONE``, so a calendar shows the show at its Seoul time and any
client converts it correctly. ``UID`` is stable per special and ``SEQUENCE``
follows the special's version, so a subscribed calendar updates a moved show
instead of adding a second one; a cancelled show stays with ``STATUS:CANCELLED``
so subscribers see it disappear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

PRODID = "-//LiveMarket//Broadcast calendar//EN"
MEDIA_TYPE = "text/calendar"

_STATUS = {
    "scheduled": "CONFIRMED",
    "live": "CONFIRMED",
    "ended": "CONFIRMED",
    "cancelled": "CANCELLED",
}


@dataclass(frozen=True)
class CalendarEntry:
    """What the export needs of a special (no database objects here)."""

    id: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    status: str
    version: int
    updated_at: datetime
    url: str = ""
    location: str = ""


def uid_for(special_id: int, domain: str) -> str:
    """The stable ``UID`` of a special's event."""
    return f"special-{special_id}@{domain}"


def _event(entry: CalendarEntry, zone: ZoneInfo, domain: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid_for(entry.id, domain))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", entry.starts_at.astimezone(zone))
    event.add("dtend", entry.ends_at.astimezone(zone))
    event.add("summary", entry.title)
    if entry.description:
        event.add("description", entry.description)
    if entry.url:
        event.add("url", entry.url)
    if entry.location:
        event.add("location", entry.location)
    event.add("status", _STATUS.get(entry.status, "CONFIRMED"))
    event.add("sequence", max(entry.version - 1, 0))
    event.add("last-modified", entry.updated_at.astimezone(UTC))
    return event


def build_calendar(
    entries: Iterable[CalendarEntry],
    *,
    zone: ZoneInfo,
    domain: str,
    name: str,
    now: datetime,
) -> bytes:
    """The ``VCALENDAR`` bytes holding one ``VEVENT`` per entry, plus its ``VTIMEZONE``."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone.key)
    first: date | None = None
    for entry in entries:
        calendar.add_component(_event(entry, zone, domain, now))
        day = entry.starts_at.astimezone(zone).date()
        first = day if first is None or day < first else first
    # A VTIMEZONE covering the season only keeps the file short; an empty
    # calendar still names its zone so clients know how to show it.
    start = date((first or now.astimezone(zone).date()).year - 1, 1, 1)
    calendar.add_missing_timezones(first_date=start, last_date=date(start.year + 3, 1, 1))
    if not calendar.walk("VTIMEZONE"):
        calendar.add_component(
            Timezone.from_tzinfo(zone, first_date=start, last_date=date(start.year + 3, 1, 1))
        )
    return calendar.to_ical()
