"""The iCalendar export parses with ``icalendar`` and round-trips times in Asia/Seoul."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from livemarket.scheduler.ics import CalendarEntry, build_calendar

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def entry(id: int, start: datetime, **kw: object) -> CalendarEntry:
    values: dict[str, object] = {
        "id": id,
        "title": f"Special {id}",
        "description": "Jeju tangerines, line 2; with, commas",
        "starts_at": start,
        "ends_at": start + timedelta(minutes=90),
        "status": "scheduled",
        "version": 3,
        "updated_at": NOW,
        "url": f"http://127.0.0.1:8080/specials/{id}",
    }
    values.update(kw)
    return CalendarEntry(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def test_times_round_trip_in_seoul() -> None:
    """DTSTART/DTEND carry TZID=Asia/Seoul, show Seoul wall time, and equal the UTC instants."""
    start = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)  # 19:00 KST
    data = build_calendar([entry(7, start)], zone=SEOUL, domain="lm.test", name="K-MAS", now=NOW)
    assert b"DTSTART;TZID=Asia/Seoul:20261218T190000" in data
    calendar = parse(data)
    (event,) = calendar.walk("VEVENT")
    dtstart = event.decoded("dtstart")
    assert dtstart == start
    assert dtstart.astimezone(SEOUL).hour == 19
    assert event.decoded("dtend") == start + timedelta(minutes=90)
    assert str(event["uid"]) == "special-7@lm.test"
    assert str(event["summary"]) == "Special 7"
    assert str(event["description"]) == "Jeju tangerines, line 2; with, commas"
    assert str(event["url"]) == "http://127.0.0.1:8080/specials/7"
    assert event.decoded("sequence") == 2
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["tzid"]) == "Asia/Seoul"
    assert calendar.to_ical() == data


def test_season_export_is_valid_rfc5545() -> None:
    """The season holds one event per special with the required properties, and CRLF lines."""
    base = datetime(2026, 12, 18, 1, 0, tzinfo=UTC)
    entries = [entry(i, base + timedelta(hours=2 * i)) for i in range(1, 6)]
    entries.append(entry(9, base + timedelta(days=1), status="cancelled"))
    data = build_calendar(entries, zone=SEOUL, domain="lm.test", name="K-MAS", now=NOW)
    assert data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert data.rstrip().endswith(b"END:VCALENDAR")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    calendar = parse(data)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"])
    events = calendar.walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"special-{i}@lm.test" for i in (1, 2, 3, 4, 5, 9)]
    for event in events:
        for required in ("uid", "dtstamp", "dtstart", "dtend"):
            assert required in event
    assert str(events[-1]["status"]) == "CANCELLED"
    assert str(events[0]["status"]) == "CONFIRMED"


def test_empty_season_still_names_its_zone() -> None:
    """An empty calendar is valid and still carries the display zone."""
    calendar = parse(build_calendar([], zone=SEOUL, domain="x", name="K-MAS", now=NOW))
    assert calendar.walk("VEVENT") == []
    assert str(calendar.walk("VTIMEZONE")[0]["tzid"]) == "Asia/Seoul"


def test_long_and_hostile_text_is_folded_and_escaped() -> None:
    """Newlines, semicolons and long titles survive the round trip without breaking lines."""
    title = "김장 " * 40 + "\nBEGIN:VEVENT"
    data = build_calendar(
        [entry(1, datetime(2026, 12, 18, 1, 0, tzinfo=UTC), title=title)],
        zone=SEOUL,
        domain="x",
        name="K-MAS",
        now=NOW,
    )
    assert data.count(b"BEGIN:VEVENT") == 1
    (event,) = parse(data).walk("VEVENT")
    assert str(event["summary"]) == title
