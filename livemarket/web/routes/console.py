"""``/console``: the operator's calendar console (a page; its data comes from the JSON API).

The page is a shell with the week grid, day list and edit form; ``console.js``
reads specials from ``GET /api/v1/specials`` and writes with POST/PATCH/DELETE.
Hosts, platforms and products for the form's choices come in the page bootstrap.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.accounts.models import User
from livemarket.accounts.roles import Role
from livemarket.checkout.models import Product
from livemarket.scheduler.models import Platform, Special
from livemarket.web import templating
from livemarket.web.auth import principal
from livemarket.web.typedefs import CLOCK_KEY, SESSIONS_KEY, SETTINGS_KEY

DEFAULT_CHANNELS = ("studio-1", "studio-2")
WINDOW_DAYS = 9


async def _first_day(db: AsyncSession, now: datetime, zone: Any) -> date:
    """Where the nine-day view opens: the day of the next special still to come, or today."""
    upcoming = await db.scalar(
        select(Special.starts_at).where(Special.ends_at >= now).order_by(Special.starts_at)
    )
    return (upcoming or now).astimezone(zone).date()


async def _choices(db: AsyncSession) -> dict[str, Any]:
    hosts = await db.execute(
        select(User.id, User.display_name)
        .where(User.role == Role.HOST.value)
        .order_by(User.display_name, User.id)
    )
    platforms = await db.execute(
        select(Platform.id, Platform.name, Platform.name_ko).order_by(Platform.id)
    )
    products = await db.execute(
        select(Product.id, Product.name, Product.name_en, Product.price).order_by(Product.id)
    )
    channels = set(DEFAULT_CHANNELS) | set(await db.scalars(select(Special.channel).distinct()))
    return {
        "hosts": [{"id": i, "name": n} for i, n in hosts],
        "platforms": [{"id": i, "name": n, "name_ko": k} for i, n, k in platforms],
        "products": [{"id": i, "name": n, "name_en": e, "price": p} for i, n, e, p in products],
        "channels": sorted(channels),
    }


async def console(request: web.Request) -> web.Response:
    """The console for operators; others log in first (or are refused)."""
    who = await principal(request)
    if who.user_id is None:
        raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))
    if who.role is not Role.OPERATOR:
        t = templating.translator(request)
        return await templating.render(
            request,
            "error.html",
            {"title": t("error.forbidden_title"), "message": t("console.operators_only")},
            status=403,
        )
    settings = request.app[SETTINGS_KEY]
    now = request.app[CLOCK_KEY]()
    async with request.app[SESSIONS_KEY]() as db:
        choices = await _choices(db)
        try:
            first = date.fromisoformat(request.query.get("from", ""))
        except ValueError:
            first = await _first_day(db, now, settings.zone)
    bootstrap = {
        "console": {
            **choices,
            "from": first.isoformat(),
            "days": WINDOW_DAYS,
            "now": now.isoformat(),
            "min_minutes": settings.special_min_minutes,
            "max_minutes": settings.special_max_minutes,
            "discount_cap": settings.discount_cap_pct,
        }
    }
    return await templating.render(
        request,
        "console.html",
        {"scripts": ["js/console.js"], "bootstrap": bootstrap, "choices": choices},
    )


def setup(app: web.Application) -> None:
    templating.setup(app)
    app.router.add_get("/console", console, name="console")
