"""The pure season plan: nine days, 60 specials, no clashes, one live special at ``now``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

import pytest

from livemarket.demo.cast import DEMO_HOST, HOSTS, PLATFORMS
from livemarket.demo.catalog import load_catalog
from livemarket.demo.season import PlannedSpecial, Season, plan_season, planned_status
from livemarket.scheduler.calendar import (
    CalendarRules,
    PlannedDealDraft,
    Slot,
    SpecialDraft,
    check_overlaps,
    validate_draft,
)
from livemarket.scheduler.lifecycle import Status

SEOUL = ZoneInfo("Asia/Seoul")
#: Moments that stress the default placement: mid-show, night, just after and before midnight.
NOWS = [
    datetime(2026, 11, 26, 19, 40, tzinfo=UTC),
    datetime(2026, 11, 26, 3, 0, tzinfo=SEOUL),
    datetime(2026, 11, 26, 0, 3, tzinfo=SEOUL),
    datetime(2026, 11, 26, 23, 58, 30, tzinfo=SEOUL),
    datetime(2026, 11, 26, 13, 5, tzinfo=SEOUL),
    datetime(2026, 11, 26, 21, 59, tzinfo=SEOUL),
    datetime(2021, 12, 18, 10, 0, tzinfo=SEOUL),
]


def _plan(now: datetime, start: date | None = None, cap: int = 50) -> Season:
    return plan_season(
        load_catalog(), zone=SEOUL, now=now, season_start=start, discount_cap_pct=cap
    )


def _clashes(specials: tuple[PlannedSpecial, ...], owner: str) -> list[tuple[str, str]]:
    return [
        (a.code, b.code)
        for a, b in combinations(specials, 2)
        if getattr(a, owner) == getattr(b, owner)
        and a.starts_at < b.ends_at
        and b.starts_at < a.ends_at
    ]


def _seasons() -> list[Season]:
    return [_plan(now) for now in NOWS] + [_plan(NOWS[0], date(2021, 12, 18))]


@pytest.mark.parametrize("season", _seasons())
def test_sixty_specials_over_exactly_nine_days(season: Season) -> None:
    """Every placement airs 60 specials whose Seoul start dates cover nine consecutive days."""
    assert len(season.specials) == 60
    days = sorted({s.starts_at.astimezone(SEOUL).date() for s in season.specials})
    assert days == [season.first_day + timedelta(days=d) for d in range(9)]
    assert [s.code for s in season.specials] == [f"kmas-{n:02d}" for n in range(1, 61)]
    assert [s.starts_at for s in season.specials] == sorted(s.starts_at for s in season.specials)


@pytest.mark.parametrize("season", _seasons())
def test_no_host_and_no_channel_has_two_specials_at_once(season: Season) -> None:
    """No host presents two shows at once, and no studio channel carries two."""
    assert _clashes(season.specials, "host_username") == []
    assert _clashes(season.specials, "channel") == []
    assert {s.channel for s in season.specials} == {"studio-1", "studio-2"}
    assert {s.host_username for s in season.specials} == {h.username for h in HOSTS}


@pytest.mark.parametrize("season", _seasons())
def test_line_ups_use_catalog_products_and_deals_fit_inside_their_special(season: Season) -> None:
    """Line-ups hold 3-6 distinct catalog products; planned deals stay in the show, at most 50%."""
    catalog = {p.sku: p for p in load_catalog()}
    deals = 0
    for special in season.specials:
        skus = special.programme.skus
        assert 3 <= len(skus) <= 6 and len(set(skus)) == len(skus), special.code
        assert set(skus) <= set(catalog), special.code
        length = (special.ends_at - special.starts_at).total_seconds()
        assert 30 * 60 <= length <= 90 * 60, special.code
        for deal in special.programme.deals:
            deals += 1
            assert deal.sku in skus, special.code
            assert deal.offset_s >= 0 and deal.offset_s + deal.duration_s <= length, special.code
            assert 1 <= deal.discount_pct <= 50, special.code
            assert 1 <= deal.quantity <= catalog[deal.sku].stock, special.code
    assert deals >= 60
    aired = {sku for s in season.specials for sku in s.programme.skus}
    assert aired == set(catalog), "every curated product gets air time"


def test_titles_descriptions_and_platforms_look_like_the_event() -> None:
    """Korean titles and descriptions; all four partners carry specials, some are own-site only."""
    season = _plan(NOWS[0])
    slugs = Counter(s.programme.platform_slug for s in season.specials)
    assert set(slugs) == {p.slug for p in PLATFORMS} | {None}
    for special in season.specials:
        assert any("\uac00" <= c <= "\ud7a3" for c in special.programme.title), special.code
        assert 0 < len(special.programme.title) <= 120
        assert special.programme.description


def test_season_start_places_the_real_2021_dates_at_daytime_seoul_hours() -> None:
    """``--season-start 2021-12-18`` gives 18-26 December, shows between 10:00 and 22:00 Seoul."""
    season = _plan(datetime(2026, 11, 26, tzinfo=UTC), date(2021, 12, 18))
    local = [(s.starts_at.astimezone(SEOUL), s.ends_at.astimezone(SEOUL)) for s in season.specials]
    assert {start.date() for start, _ in local} == {date(2021, 12, d) for d in range(18, 27)}
    for start, end in local:
        assert time(10) <= start.time() and end.time() <= time(22) and end.date() == start.date()
    assert season.specials[0].starts_at == datetime(2021, 12, 18, 10, 0, tzinfo=SEOUL)
    assert season.specials[0].starts_at.utcoffset() == timedelta(hours=9)


def test_season_start_is_independent_of_now() -> None:
    """A season put on fixed dates is the same whenever it is planned."""
    a = _plan(NOWS[0], date(2021, 12, 18))
    b = _plan(NOWS[3], date(2021, 12, 18))
    assert a == b


@pytest.mark.parametrize("now", NOWS)
def test_default_placement_has_exactly_one_special_live_now(now: datetime) -> None:
    """Around ``now``: the demo host's special began minutes ago; earlier ones ended, later wait."""
    season = _plan(now)
    statuses = [planned_status(s, now) for s in season.specials]
    live = [s for s, st in zip(season.specials, statuses, strict=True) if st is Status.LIVE]
    assert len(live) == 1
    special = live[0]
    assert special.host_username == DEMO_HOST.username
    assert timedelta(0) < now - special.starts_at <= timedelta(minutes=11)
    assert special.ends_at - now >= timedelta(minutes=40)
    index = season.specials.index(special)
    assert all(st is Status.ENDED for st in statuses[:index])
    assert all(st is Status.SCHEDULED for st in statuses[index + 1 :])
    assert len(statuses[index + 1 :]) >= 30, "most of the season is still to come"
    assert season.first_day == now.astimezone(SEOUL).date() - timedelta(days=2)


def test_default_placement_keeps_sensible_hours_for_the_other_specials() -> None:
    """Only the live special follows the clock; the others keep 10:00-22:00 Seoul slots."""
    now = datetime(2026, 11, 26, 3, 0, tzinfo=SEOUL)
    season = _plan(now)
    for special in season.specials:
        if planned_status(special, now) is Status.LIVE:
            continue
        start, end = special.starts_at.astimezone(SEOUL), special.ends_at.astimezone(SEOUL)
        assert time(10) <= start.time() and end.time() <= time(22), special.code


def test_a_lower_discount_cap_is_respected() -> None:
    """With the cap set to 30%, no planned deal goes beyond it."""
    season = _plan(NOWS[0], cap=30)
    pcts = [d.discount_pct for s in season.specials for d in s.programme.deals]
    assert pcts and max(pcts) == 30


def test_planned_status_follows_the_half_open_slot() -> None:
    """Scheduled before the start, live from the start until just before the end, then ended."""
    special = _plan(NOWS[0], date(2021, 12, 18)).specials[0]
    second = timedelta(seconds=1)
    assert planned_status(special, special.starts_at - second) is Status.SCHEDULED
    assert planned_status(special, special.starts_at) is Status.LIVE
    assert planned_status(special, special.ends_at - second) is Status.LIVE
    assert planned_status(special, special.ends_at) is Status.ENDED


def test_naive_now_is_refused() -> None:
    """A naive ``now`` is ambiguous about the clock, so planning refuses it."""
    with pytest.raises(ValueError, match="aware"):
        _plan(datetime(2026, 11, 26, 12, 0))


@pytest.mark.parametrize("season", [_plan(NOWS[0]), _plan(NOWS[0], date(2021, 12, 18))])
def test_every_planned_special_passes_the_calendars_own_rules(season: Season) -> None:
    """The seeded calendar is one an operator could have entered: the scheduler accepts it."""
    ids = {sku: n for n, sku in enumerate(sorted(p.sku for p in load_catalog()), start=1)}
    hosts = {h.username: n for n, h in enumerate(HOSTS, start=1)}
    drafts = [
        SpecialDraft(
            title=s.programme.title,
            description=s.programme.description,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            host_id=hosts[s.host_username],
            channel=s.channel,
            product_ids=tuple(ids[sku] for sku in s.programme.skus),
            deals=tuple(
                PlannedDealDraft(
                    product_id=ids[d.sku],
                    offset_s=d.offset_s,
                    discount_pct=d.discount_pct,
                    duration_s=d.duration_s,
                    quantity=d.quantity,
                )
                for d in s.programme.deals
            ),
        )
        for s in season.specials
    ]
    slots = [
        Slot(id=n, starts_at=d.starts_at, ends_at=d.ends_at, host_id=d.host_id, channel=d.channel)
        for n, d in enumerate(drafts)
    ]
    for n, draft in enumerate(drafts):
        validate_draft(draft, CalendarRules())
        check_overlaps(draft, slots, own_id=n)
