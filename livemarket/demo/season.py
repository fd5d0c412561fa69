"""Where and when the season's 60 specials air: nine days, two studio channels, nine hosts.

Pure: the caller passes the catalog, the time zone and ``now``. Two placements:

- ``season_start`` given: the nine days from that date, at fixed Asia/Seoul-style
  times between 10:00 and 22:00 (2021-12-18 reproduces the real event's dates);
- otherwise around ``now``: today is the season's third day, one special (hosted
  by the demo host) started ten minutes ago and is live, the ones before have
  ended and the rest are still to come, so a newcomer finds a show on air at once.

Specials are numbered ``kmas-01`` … in airing order; what each presents comes
from :mod:`livemarket.demo.programme`. No host and no channel ever has two
specials at once (checked before the plan is returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from livemarket.demo.cast import DEMO_HOST, HOSTS
from livemarket.demo.catalog import CatalogProduct
from livemarket.demo.programme import Programme, plan_programmes
from livemarket.scheduler.lifecycle import Status, status_at

HOST_USERNAMES: tuple[str, ...] = tuple(h.username for h in HOSTS)
SEASON_DAYS = 9
SPECIAL_COUNT = 60
#: In the default placement, today is this day of the season (0-based: the third day).
TODAY_INDEX = 2
#: The live special started this long before ``now`` and lasts at least LIVE_MIN_LENGTH.
LIVE_LEAD = timedelta(minutes=10)
LIVE_MIN_LENGTH = timedelta(minutes=60)
#: A host gets at least this long between two of their specials.
HOST_REST = timedelta(minutes=30)
#: Daily start times per channel; 3 hours apart, so a special of up to 90 minutes fits.
CHANNEL_TIMES: dict[str, tuple[time, ...]] = {
    "studio-1": (time(10, 0), time(13, 0), time(16, 0), time(19, 30)),
    "studio-2": (time(11, 30), time(14, 30), time(17, 30), time(20, 30)),
}
#: The longest programme; a candidate slot is reserved this long when checking clashes.
LONGEST = timedelta(minutes=90)


@dataclass(frozen=True, slots=True)
class PlannedSpecial:
    code: str
    programme: Programme
    starts_at: datetime  # aware, in the season's zone
    ends_at: datetime
    channel: str
    host_username: str


@dataclass(frozen=True, slots=True)
class Season:
    first_day: date
    specials: tuple[PlannedSpecial, ...]

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.first_day + timedelta(days=d) for d in range(SEASON_DAYS))


@dataclass(frozen=True, slots=True)
class _Slot:
    starts_at: datetime
    channel: str


def _grid(first_day: date, zone: ZoneInfo) -> list[_Slot]:
    return sorted(
        (
            _Slot(datetime.combine(first_day + timedelta(days=d), at, tzinfo=zone), channel)
            for d in range(SEASON_DAYS)
            for channel, times in CHANNEL_TIMES.items()
            for at in times
        ),
        key=lambda s: (s.starts_at, s.channel),
    )


def _spread_pick(slots: list[_Slot], keep: int) -> list[_Slot]:
    """Keep ``keep`` of ``slots``, dropping evenly spaced ones so every day stays busy."""
    drops = len(slots) - keep
    if drops < 0:
        raise ValueError(f"only {len(slots)} free slots for {keep} specials")
    dropped = {int((k + 0.5) * len(slots) / drops) for k in range(drops)} if drops else set()
    return [s for i, s in enumerate(slots) if i not in dropped]


def _clashes_with_live(slot: _Slot, live: _Slot, now: datetime) -> bool:
    """True when ``slot`` would share the live special's channel time or also be live now."""
    end = slot.starts_at + LONGEST
    live_end = live.starts_at + LONGEST
    same_channel = (
        slot.channel == live.channel and slot.starts_at < live_end and live.starts_at < end
    )
    return same_channel or slot.starts_at <= now < end


def _assign_hosts(
    windows: Sequence[tuple[datetime, datetime]], hosts: Sequence[str], fixed: dict[int, str]
) -> list[str]:
    """Round-robin hosts in airing order, skipping anyone busy (or resting) at the time."""
    booked: dict[str, list[tuple[datetime, datetime]]] = {h: [] for h in hosts}
    for index, host in fixed.items():
        booked[host].append(windows[index])

    def free(host: str, start: datetime, end: datetime) -> bool:
        return all(end + HOST_REST <= s or e + HOST_REST <= start for s, e in booked[host])

    chosen: list[str] = []
    turn = 0
    for index, (start, end) in enumerate(windows):
        if index in fixed:
            chosen.append(fixed[index])
            continue
        for step in range(len(hosts)):
            host = hosts[(turn + step) % len(hosts)]
            if free(host, start, end):
                break
        else:
            raise ValueError(f"no host is free for the special at {start.isoformat()}")
        booked[host].append((start, end))
        chosen.append(host)
        turn = (turn + step + 1) % len(hosts)
    return chosen


def check_no_overlap(specials: Sequence[PlannedSpecial]) -> None:
    """Raise ValueError when a host or a channel would have two specials at once."""
    for key in ("host_username", "channel"):
        seen: dict[str, list[PlannedSpecial]] = {}
        for special in specials:
            seen.setdefault(getattr(special, key), []).append(special)
        for owner, group in seen.items():
            ordered = sorted(group, key=lambda s: s.starts_at)
            for before, after in zip(ordered, ordered[1:], strict=False):
                if after.starts_at < before.ends_at:
                    raise ValueError(f"{key} {owner}: {before.code} overlaps {after.code}")


def plan_season(
    catalog: Sequence[CatalogProduct],
    *,
    zone: ZoneInfo,
    now: datetime,
    season_start: date | None = None,
    hosts: Sequence[str] = HOST_USERNAMES,
    live_host: str = DEMO_HOST.username,
    discount_cap_pct: int = 50,
) -> Season:
    """The season's 60 specials in airing order, placed on ``season_start`` or around ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if live_host not in hosts:
        raise ValueError(f"the live host {live_host!r} is not one of the hosts")
    programmes = plan_programmes(catalog, SPECIAL_COUNT, discount_cap_pct=discount_cap_pct)
    live: _Slot | None = None
    if season_start is not None:
        first_day = season_start
        slots = _spread_pick(_grid(first_day, zone), SPECIAL_COUNT)
    else:
        local_now = now.astimezone(zone)
        first_day = local_now.date() - timedelta(days=TODAY_INDEX)
        start = local_now.replace(second=0, microsecond=0) - LIVE_LEAD
        live = _Slot(start, "studio-1")
        # LONGEST bounds the live special's length too (it is at most 90 minutes).
        free = [s for s in _grid(first_day, zone) if not _clashes_with_live(s, live, now)]
        slots = sorted(
            [*_spread_pick(free, SPECIAL_COUNT - 1), live], key=lambda s: (s.starts_at, s.channel)
        )
    windows = []
    for slot, programme in zip(slots, programmes, strict=True):
        length = programme.duration
        if slot is live:
            length = max(length, LIVE_MIN_LENGTH)
        windows.append((slot.starts_at, slot.starts_at + length))
    fixed = {slots.index(live): live_host} if live is not None else {}
    host_of = _assign_hosts(windows, hosts, fixed)
    specials = tuple(
        PlannedSpecial(
            code=f"kmas-{n:02d}",
            programme=programme,
            starts_at=start,
            ends_at=end,
            channel=slot.channel,
            host_username=host,
        )
        for n, (slot, programme, (start, end), host) in enumerate(
            zip(slots, programmes, windows, host_of, strict=True), start=1
        )
    )
    check_no_overlap(specials)
    return Season(first_day=first_day, specials=specials)


def planned_status(special: PlannedSpecial, now: datetime) -> Status:
    """The status the clock gives ``special`` at ``now`` (the scheduler's lifecycle rule)."""
    return status_at(now, special.starts_at, special.ends_at)
