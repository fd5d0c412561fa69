"""Write the demo season into the database: the thin I/O around the pure plan.

Idempotent by natural keys (platform slug, username, product SKU, special code):
whatever already exists is left as it is (an operator may have edited it), the
rest is added in one transaction, and the report says what was added.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.accounts.passwords import hash_password, verify_password
from livemarket.accounts.service import new_stream_key
from livemarket.checkout.models import Product
from livemarket.demo.cast import DEMO_HOST, DEMO_OPERATOR, PLATFORMS, USERS, DemoUser
from livemarket.demo.catalog import load_catalog
from livemarket.demo.credentials import (
    CREDENTIALS_FILE,
    new_password,
    read_credentials,
    write_credentials,
)
from livemarket.demo.season import Season, plan_season, planned_status
from livemarket.scheduler.lifecycle import Status
from livemarket.scheduler.models import PlannedDeal, Platform, Special, SpecialProduct


@dataclass(frozen=True, slots=True)
class Credential:
    """A demo login for the start-up banner; ``password`` is None when it cannot be known
    (the account exists but the credentials file is gone or no longer matches)."""

    username: str
    password: str | None


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What one seeding run added (zeros on a second run) and the logins to print."""

    platforms: int
    users: int
    products: int
    specials: int
    line_up_items: int
    planned_deals: int
    operator: Credential
    host: Credential
    credentials_file: Path
    first_day: date
    #: The special on air at ``now`` (by its times), if any: where a newcomer should look.
    live_special_id: int | None

    def describe(self) -> str:
        """The start-up banner: what was added, the demo logins, and where to look first."""
        if self.added_anything:
            head = (
                f"K-MAS demo season (from {self.first_day.isoformat()}): added "
                f"{self.platforms} platforms, {self.users} accounts, {self.products} products, "
                f"{self.specials} specials ({self.line_up_items} line-up items, "
                f"{self.planned_deals} planned deals)."
            )
        else:
            head = "K-MAS demo season already seeded; nothing added."
        lines = [head]
        for label, login in (("operator", self.operator), ("host", self.host)):
            password = login.password or (
                f"(unknown: {self.credentials_file} is missing or out of date)"
            )
            lines.append(f"  demo {label}: {login.username} / {password}")
        lines.append(f"  all demo logins: {self.credentials_file}")
        if self.live_special_id is not None:
            lines.append(f"  live now: /specials/{self.live_special_id}")
        return "\n".join(lines)

    @property
    def added_anything(self) -> bool:
        return any(
            (self.platforms, self.users, self.products, self.specials,
             self.line_up_items, self.planned_deals)
        )  # fmt: skip


@dataclass
class _Counts:
    platforms: int = 0
    users: int = 0
    products: int = 0
    specials: int = 0
    line_up_items: int = 0
    planned_deals: int = 0


async def _add_platforms(session: AsyncSession, counts: _Counts) -> dict[str, int]:
    existing = {p.slug: p for p in await session.scalars(select(Platform))}
    for spec in PLATFORMS:
        if spec.slug not in existing:
            row = Platform(slug=spec.slug, name=spec.name, name_ko=spec.name_ko, url=spec.url)
            session.add(row)
            existing[spec.slug] = row
            counts.platforms += 1
    await session.flush()
    return {slug: row.id for slug, row in existing.items()}


async def _add_users(
    session: AsyncSession, counts: _Counts, passwords: dict[str, str]
) -> dict[str, User]:
    """Add missing demo users; ``passwords`` gains a new one for each (the caller saves it)."""
    wanted = [u.username for u in USERS]
    existing = {
        u.username: u for u in await session.scalars(select(User).where(User.username.in_(wanted)))
    }
    missing: list[DemoUser] = [u for u in USERS if u.username not in existing]
    for user in missing:
        passwords.setdefault(user.username, new_password())
    # Argon2 is deliberately slow: hash off the event loop.
    hashes = await asyncio.to_thread(
        lambda: [hash_password(passwords[u.username]) for u in missing]
    )
    for user, password_hash in zip(missing, hashes, strict=True):
        row = User(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            password_hash=password_hash,
            stream_key=new_stream_key() if user.role == "host" else None,
        )
        session.add(row)
        existing[user.username] = row
        counts.users += 1
    await session.flush()
    return existing


async def _add_products(session: AsyncSession, counts: _Counts) -> dict[str, int]:
    catalog = load_catalog()
    skus = [p.sku for p in catalog]
    existing = {
        p.sku: p for p in await session.scalars(select(Product).where(Product.sku.in_(skus)))
    }
    for item in catalog:
        if item.sku not in existing:
            row = Product(
                sku=item.sku,
                name=item.name,
                name_en=item.name_en,
                category=item.category,
                maker=item.maker_label,
                description=item.description,
                price=item.price,
                stock=item.stock,
            )
            session.add(row)
            existing[item.sku] = row
            counts.products += 1
    await session.flush()
    return {sku: row.id for sku, row in existing.items()}


async def _add_specials(
    session: AsyncSession,
    counts: _Counts,
    season: Season,
    now: datetime,
    *,
    platform_ids: dict[str, int],
    user_ids: dict[str, int],
    product_ids: dict[str, int],
) -> None:
    codes = [s.code for s in season.specials]
    existing = set(await session.scalars(select(Special.code).where(Special.code.in_(codes))))
    added: list[tuple[Special, int]] = []
    for index, planned in enumerate(season.specials):
        if planned.code in existing:
            continue
        status = planned_status(planned, now)
        programme = planned.programme
        row = Special(
            code=planned.code,
            title=programme.title,
            description=programme.description,
            starts_at=planned.starts_at,
            ends_at=planned.ends_at,
            status=status.value,
            host_id=user_ids[planned.host_username],
            platform_id=platform_ids[programme.platform_slug] if programme.platform_slug else None,
            channel=planned.channel,
            went_live_at=planned.starts_at if status is not Status.SCHEDULED else None,
            ended_at=planned.ends_at if status is Status.ENDED else None,
        )
        session.add(row)
        added.append((row, index))
    await session.flush()
    for row, index in added:
        programme = season.specials[index].programme
        for position, sku in enumerate(programme.skus):
            session.add(
                SpecialProduct(special_id=row.id, product_id=product_ids[sku], position=position)
            )
        for deal in programme.deals:
            session.add(
                PlannedDeal(
                    special_id=row.id,
                    product_id=product_ids[deal.sku],
                    offset_s=deal.offset_s,
                    discount_pct=deal.discount_pct,
                    duration_s=deal.duration_s,
                    quantity=deal.quantity,
                )
            )
        counts.specials += 1
        counts.line_up_items += len(programme.skus)
        counts.planned_deals += len(programme.deals)
    await session.flush()


async def _credential(username: str, password_hash: str, passwords: dict[str, str]) -> Credential:
    password = passwords.get(username)
    if password is not None and not await asyncio.to_thread(
        verify_password, password_hash, password
    ):
        password = None  # the file is stale for this account: do not print a wrong login
    return Credential(username, password)


async def _seed_once(
    sessions: async_sessionmaker[AsyncSession],
    season: Season,
    now: datetime,
    data_dir: Path,
) -> SeedReport:
    path = data_dir / CREDENTIALS_FILE
    saved = await asyncio.to_thread(read_credentials, path)
    passwords = dict(saved)
    counts = _Counts()
    async with sessions.begin() as session:
        platform_ids = await _add_platforms(session, counts)
        users = await _add_users(session, counts, passwords)
        product_ids = await _add_products(session, counts)
        await _add_specials(
            session,
            counts,
            season,
            now,
            platform_ids=platform_ids,
            user_ids={name: user.id for name, user in users.items()},
            product_ids=product_ids,
        )
        if passwords != saved:
            # Saved before the commit: if the commit fails, the next run reuses these
            # passwords; the reverse order could commit accounts nobody can log in to.
            await asyncio.to_thread(write_credentials, path, passwords)
        live_id = await session.scalar(
            select(Special.id)
            .where(
                Special.starts_at <= now,
                Special.ends_at > now,
                Special.status != Status.CANCELLED.value,
            )
            .order_by(Special.starts_at)
            .limit(1)
        )
        # Read inside the transaction: the caller's sessionmaker may expire rows on commit.
        hashes = {u.username: users[u.username].password_hash for u in (DEMO_OPERATOR, DEMO_HOST)}
    operator, host = [await _credential(name, h, passwords) for name, h in hashes.items()]
    return SeedReport(
        platforms=counts.platforms,
        users=counts.users,
        products=counts.products,
        specials=counts.specials,
        line_up_items=counts.line_up_items,
        planned_deals=counts.planned_deals,
        operator=operator,
        host=host,
        credentials_file=path,
        first_day=season.first_day,
        live_special_id=live_id,
    )


async def seed_demo_season(
    sessions: async_sessionmaker[AsyncSession],
    *,
    zone: ZoneInfo,
    now: datetime,
    season_start: date | None,
    data_dir: Path,
    discount_cap_pct: int = 50,
) -> SeedReport:
    """Seed the K-MAS season (platforms, accounts, 100 products, 60 specials); idempotent.

    ``season_start`` puts the nine days on fixed dates; without it the season is
    placed around ``now`` with one special live. Two instances seeding at once:
    the loser of the race hits a unique key, retries once and finds it all there.
    """
    season = plan_season(
        load_catalog(),
        zone=zone,
        now=now,
        season_start=season_start,
        discount_cap_pct=discount_cap_pct,
    )
    try:
        return await _seed_once(sessions, season, now, data_dir)
    except IntegrityError:
        return await _seed_once(sessions, season, now, data_dir)
