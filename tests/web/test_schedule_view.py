"""The schedule page's grouping: live now, next up, and the season by Seoul day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from livemarket.web.schedule_view import NEXT_UP_COUNT, Day, build_schedule, make_card, pick_day

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2021, 12, 18, 10, 0, tzinfo=UTC)


def _special(special_id: int, starts: datetime, status: str = "scheduled") -> dict[str, Any]:
    return {
        "id": special_id,
        "title": f"s{special_id}",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "status": status,
        "host_id": 7,
        "platform_id": 3,
    }


def test_groups_by_seoul_day_and_orders_by_start() -> None:
    """Days follow the Seoul calendar (00:30 KST is the next day), in start order."""
    cards = [
        make_card(_special(2, datetime(2021, 12, 18, 15, 30, tzinfo=UTC))),  # 19th 00:30 KST
        make_card(_special(1, datetime(2021, 12, 18, 14, 0, tzinfo=UTC))),  # 18th 23:00 KST
        make_card(_special(3, datetime(2021, 12, 17, 15, 0, tzinfo=UTC))),  # 18th 00:00 KST
    ]
    schedule = build_schedule(cards, NOW, SEOUL)
    assert [(d.day.isoformat(), [c.id for c in d.cards]) for d in schedule.days] == [
        ("2021-12-18", [3, 1]),
        ("2021-12-19", [2]),
    ]


def test_live_and_next_up() -> None:
    """Live specials by status; next up is the few scheduled ones still ahead, soonest first."""
    specials = [_special(1, NOW - timedelta(minutes=5), "live")]
    specials += [_special(10 + i, NOW + timedelta(hours=i + 1)) for i in range(5)]
    specials.append(_special(20, NOW + timedelta(minutes=30), "cancelled"))
    specials.append(_special(21, NOW - timedelta(hours=3), "ended"))
    specials.append(_special(22, NOW - timedelta(minutes=1)))  # late to start: not "next"
    schedule = build_schedule([make_card(s) for s in specials], NOW, SEOUL)
    assert [c.id for c in schedule.live] == [1]
    assert [c.id for c in schedule.next_up] == [10, 11, 12][:NEXT_UP_COUNT]


def test_card_names_come_from_lookups() -> None:
    """Host and platform names are looked up by id; no platform means our own site."""
    card = make_card(_special(1, NOW), {7: "하나"}, {3: "그립"})
    assert (card.host_name, card.platform_name) == ("하나", "그립")
    own = make_card({**_special(2, NOW), "platform_id": None}, {}, {3: "그립"})
    assert own.platform_name == ""


def test_the_page_shows_one_day_chosen_wanted_today_next_or_last() -> None:
    """The asked-for day if it has shows, else today, else the next day, else the last."""
    days = [Day(date(2021, 12, d)) for d in (18, 19, 21)]
    assert pick_day(days, date(2021, 12, 21), date(2021, 12, 19)) is days[2]
    assert pick_day(days, date(2021, 12, 20), date(2021, 12, 19)) is days[1]
    assert pick_day(days, None, date(2021, 12, 20)) is days[2]
    assert pick_day(days, None, date(2021, 12, 1)) is days[0]
    assert pick_day(days, None, date(2022, 1, 5)) is days[2]
    assert pick_day([], None, date(2022, 1, 5)) is None
