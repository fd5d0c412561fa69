"""The public schedule as the page shows it: live now, next up, and one Seoul day at a time.

Pure: it takes the specials in the contract's shape (from ``scheduler.queries``) and the
clock, and groups them; the page handler does the I/O. Grouping is by the calendar day in
the display zone, so a 00:30 KST show sits on its Seoul day, not the UTC one before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

NEXT_UP_COUNT = 3


@dataclass(frozen=True)
class Card:
    """One special on the page: the contract shape plus what the page shows beside it."""

    special: Mapping[str, Any]
    starts_at: datetime
    ends_at: datetime
    host_name: str = ""
    platform_name: str = ""

    @property
    def id(self) -> int:
        return int(self.special["id"])

    @property
    def status(self) -> str:
        return str(self.special["status"])

    def upcoming(self, now: datetime) -> bool:
        """Still ahead: worth a reminder."""
        return self.status == "scheduled" and self.starts_at > now


@dataclass(frozen=True)
class Day:
    day: date
    cards: list[Card] = field(default_factory=list)


@dataclass(frozen=True)
class Schedule:
    live: list[Card]
    next_up: list[Card]
    days: list[Day]


def make_card(
    special: Mapping[str, Any],
    host_names: Mapping[int, str] | None = None,
    platform_names: Mapping[int, str] | None = None,
) -> Card:
    """A card from a contract-shaped special (ISO times with offsets)."""
    platform_id = special.get("platform_id")
    return Card(
        special=special,
        starts_at=datetime.fromisoformat(special["starts_at"]),
        ends_at=datetime.fromisoformat(special["ends_at"]),
        host_name=(host_names or {}).get(special["host_id"], ""),
        platform_name=(platform_names or {}).get(platform_id, "") if platform_id else "",
    )


def build_schedule(cards: Iterable[Card], now: datetime, zone: ZoneInfo) -> Schedule:
    """Group ``cards`` (any order) for the page; ``now`` is aware."""
    ordered: Sequence[Card] = sorted(cards, key=lambda c: (c.starts_at, c.id))
    live = [c for c in ordered if c.status == "live"]
    next_up = [c for c in ordered if c.upcoming(now)][:NEXT_UP_COUNT]
    days: list[Day] = []
    for card in ordered:
        day = card.starts_at.astimezone(zone).date()
        if not days or days[-1].day != day:
            days.append(Day(day))
        days[-1].cards.append(card)
    return Schedule(live=live, next_up=next_up, days=days)


def pick_day(days: Sequence[Day], wanted: date | None, today: date) -> Day | None:
    """The one day the schedule page lists: ``wanted`` if it has shows, else today, else
    the next day with shows, else the last one (a season that is over)."""
    by_day = {d.day: d for d in days}
    for choice in (wanted, today):
        if choice is not None and choice in by_day:
            return by_day[choice]
    upcoming = [d for d in days if d.day > today]
    if upcoming:
        return upcoming[0]
    return days[-1] if days else None
