"""Seeding the demo season into SQLite and PostgreSQL: counts, idempotence, logins."""

from __future__ import annotations

import json
import stat
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.accounts.passwords import verify_password
from livemarket.checkout.models import Product
from livemarket.demo.credentials import CREDENTIALS_FILE, CredentialsFileError
from livemarket.demo.seed import SeedReport, seed_demo_season
from livemarket.scheduler.models import PlannedDeal, Platform, Special, SpecialProduct

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 11, 26, 19, 40, tzinfo=UTC)

Sessions = async_sessionmaker[AsyncSession]


async def _seed(
    sessions: Sessions, data_dir: Path, season_start: date | None = None, now: datetime = NOW
) -> SeedReport:
    return await seed_demo_season(
        sessions, zone=SEOUL, now=now, season_start=season_start, data_dir=data_dir
    )


async def _count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _table_counts(sessions: Sessions) -> dict[str, int]:
    models = (Platform, User, Product, Special, SpecialProduct, PlannedDeal)
    return {m.__name__: await _count(sessions, m) for m in models}


async def test_seed_writes_the_whole_season(sessions: Sessions, tmp_path: Path) -> None:
    """One seed adds 4 platforms, 10 accounts, 100 products by category, 60 specials in 9 days."""
    report = await _seed(sessions, tmp_path)
    counts = await _table_counts(sessions)
    assert counts["Platform"] == report.platforms == 4
    assert counts["User"] == report.users == 10
    assert counts["Product"] == report.products == 100
    assert counts["Special"] == report.specials == 60
    assert counts["SpecialProduct"] == report.line_up_items >= 180
    assert counts["PlannedDeal"] == report.planned_deals > 0
    async with sessions() as session:
        categories = Counter(await session.scalars(select(Product.category)))
        specials = list(await session.scalars(select(Special).order_by(Special.starts_at)))
        hosts = list(await session.scalars(select(User).where(User.role == "host")))
        slugs = set(await session.scalars(select(Platform.slug)))
    assert categories == {"food": 62, "beauty": 18, "living": 14, "fashion": 6}
    assert slugs == {"naver-shopping-live", "grip", "shinsegae-tv-shopping", "home-and-shopping"}
    days = {s.starts_at.astimezone(SEOUL).date() for s in specials}
    assert len(days) == 9 and max(days) - min(days) == timedelta(days=8)
    assert all(s.starts_at.tzinfo is not None for s in specials)
    assert len(hosts) == 9
    assert all(h.stream_key and len(h.stream_key) >= 32 for h in hosts)
    assert len({h.stream_key for h in hosts}) == 9


async def test_seed_places_one_special_live_now_hosted_by_the_demo_host(
    sessions: Sessions, tmp_path: Path
) -> None:
    """One special is live at ``now``, hosted by the demo host; the rest are ended or scheduled."""
    report = await _seed(sessions, tmp_path)
    async with sessions() as session:
        rows = (await session.execute(select(Special, User.username).join(User))).all()
    by_status = Counter(special.status for special, _ in rows)
    assert by_status["live"] == 1 and by_status["ended"] + by_status["scheduled"] == 59
    live, host = next((s, u) for s, u in rows if s.status == "live")
    assert report.live_special_id == live.id
    assert host == report.host.username == "demo-host"
    assert live.starts_at <= NOW < live.ends_at
    for special, _ in rows:
        if special.status == "ended":
            assert special.ends_at <= NOW
        elif special.status == "scheduled":
            assert special.starts_at > NOW


async def test_line_ups_and_planned_deals_are_linked_in_order(
    sessions: Sessions, tmp_path: Path
) -> None:
    """Each special has a 3-6 product line-up from position 0; deals are on line-up products."""
    await _seed(sessions, tmp_path)
    async with sessions() as session:
        items = list(await session.scalars(select(SpecialProduct)))
        deals = list(await session.scalars(select(PlannedDeal)))
    line_ups: dict[int, list[SpecialProduct]] = {}
    for item in items:
        line_ups.setdefault(item.special_id, []).append(item)
    assert len(line_ups) == 60
    for special_items in line_ups.values():
        assert 3 <= len(special_items) <= 6
        assert sorted(i.position for i in special_items) == list(range(len(special_items)))
    for deal in deals:
        assert deal.product_id in {i.product_id for i in line_ups[deal.special_id]}
        assert 1 <= deal.discount_pct <= 50 and deal.deal_id is None


async def test_seeding_twice_adds_nothing_and_keeps_passwords(
    sessions: Sessions, tmp_path: Path
) -> None:
    """A second seed (even a day later) reports zero additions, changes no row and no password."""
    first = await _seed(sessions, tmp_path)
    before = await _table_counts(sessions)
    async with sessions() as session:
        hashes = dict((await session.execute(select(User.username, User.password_hash))).all())
    second = await _seed(sessions, tmp_path, now=NOW + timedelta(days=1))
    assert not second.added_anything
    assert (second.platforms, second.users, second.products, second.specials) == (0, 0, 0, 0)
    assert await _table_counts(sessions) == before
    async with sessions() as session:
        assert (
            dict((await session.execute(select(User.username, User.password_hash))).all()) == hashes
        )
    assert second.operator == first.operator and second.host == first.host
    assert first.added_anything


async def test_printed_credentials_log_in_and_are_kept_private(
    sessions: Sessions, tmp_path: Path
) -> None:
    """The report's operator and host passwords verify; the file keeping them is mode 0600."""
    report = await _seed(sessions, tmp_path)
    path = tmp_path / CREDENTIALS_FILE
    assert report.credentials_file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text(encoding="utf-8"))["users"]
    assert set(saved) == {"demo-operator", "demo-host", *(f"host{n}" for n in range(1, 9))}
    assert report.operator.username == "demo-operator" and report.operator.password
    assert saved["demo-operator"] == report.operator.password
    async with sessions() as session:
        users = {u.username: u for u in await session.scalars(select(User))}
    assert users["demo-operator"].role == "operator"
    for username, password in saved.items():
        assert len(password) >= 16
        assert verify_password(users[username].password_hash, password), username
    assert len(set(saved.values())) == len(saved), "every account gets its own password"


async def test_a_fresh_database_reuses_the_saved_passwords(
    database_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    """Re-seeding an emptied database from the same data folder keeps the printed logins valid."""
    first = await _seed(sessions, tmp_path)
    async with sessions.begin() as session:
        for model in (PlannedDeal, SpecialProduct, Special, Product, User, Platform):
            await session.execute(model.__table__.delete())  # type: ignore[attr-defined]
    again = await _seed(sessions, tmp_path)
    assert again.users == 10 and again.specials == 60
    assert again.operator == first.operator and again.host == first.host
    async with sessions() as session:
        host = await session.scalar(select(User).where(User.username == "demo-host"))
    assert host is not None and first.host.password is not None
    assert verify_password(host.password_hash, first.host.password)


async def test_lost_credentials_file_is_not_guessed(sessions: Sessions, tmp_path: Path) -> None:
    """Without the file, accounts keep their passwords and the report says it cannot tell."""
    await _seed(sessions, tmp_path / "one")
    report = await _seed(sessions, tmp_path / "other")
    assert report.users == 0
    assert report.operator.password is None and report.host.password is None


async def test_a_corrupt_credentials_file_stops_the_seed_and_changes_nothing(
    sessions: Sessions, tmp_path: Path
) -> None:
    """A damaged credentials file is named in the error and no row is written."""
    (tmp_path / CREDENTIALS_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(CredentialsFileError, match=CREDENTIALS_FILE):
        await _seed(sessions, tmp_path)
    assert set((await _table_counts(sessions)).values()) == {0}


async def test_season_start_seeds_the_2021_dates_as_past_specials(
    sessions: Sessions, tmp_path: Path
) -> None:
    """``--season-start 2021-12-18`` stores 18-26 December (Seoul) in UTC; all have ended by now."""
    report = await _seed(sessions, tmp_path, season_start=date(2021, 12, 18))
    assert report.first_day == date(2021, 12, 18) and report.live_special_id is None
    async with sessions() as session:
        specials = list(await session.scalars(select(Special).order_by(Special.starts_at)))
    assert {s.starts_at.astimezone(SEOUL).date() for s in specials} == {
        date(2021, 12, d) for d in range(18, 27)
    }
    assert specials[0].starts_at == datetime(2021, 12, 18, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
    assert {s.status for s in specials} == {"ended"}
    assert specials[0].code == "kmas-01"


async def test_banner_shows_the_logins_and_the_live_special(
    sessions: Sessions, tmp_path: Path
) -> None:
    """What start-up prints names both demo logins with their passwords and the live special."""
    first = await _seed(sessions, tmp_path)
    banner = first.describe()
    assert first.operator.password and first.host.password
    assert f"demo-operator / {first.operator.password}" in banner
    assert f"demo-host / {first.host.password}" in banner
    assert f"/specials/{first.live_special_id}" in banner and "60 specials" in banner
    again = (await _seed(sessions, tmp_path)).describe()
    assert "nothing added" in again and f"demo-host / {first.host.password}" in again
