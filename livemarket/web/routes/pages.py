"""The HTML pages: public schedule ``/``, watch page, studio, login, language switch, static.

Handlers are thin: read through ``scheduler.queries``, shape with ``schedule_view``,
render with ``templating.render``. The watch and studio pages are shells; each domain
fills its panel (``templates/panels/*.html``) and script (``static/js/*.js``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import get_session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.accounts.models import User
from livemarket.accounts.nicknames import nickname_in_language
from livemarket.accounts.roles import Role, can_run_special
from livemarket.errors import NotFound
from livemarket.scheduler.models import Platform, Special
from livemarket.scheduler.queries import get_special, list_specials, special_dicts
from livemarket.web import i18n, templating
from livemarket.web.api import OPERATIONS_KEY
from livemarket.web.auth import principal
from livemarket.web.errors import HTML_NOT_FOUND_KEY
from livemarket.web.fields import path_id
from livemarket.web.hosts import link_origin
from livemarket.web.routes import replay
from livemarket.web.schedule_view import Card, build_schedule, make_card, pick_day
from livemarket.web.typedefs import CLOCK_KEY, SESSIONS_KEY, SETTINGS_KEY

#: More specials than any season holds (the day bar lists every day that has one).
SEASON_LIMIT = 1000
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
#: Scripts the watch and studio pages load when present, in this order (realtime first:
#: the panels' scripts subscribe to it; hls_player.js before player.js, which asks it
#: whether HLS has the video). Panels do not add these tags themselves.
WATCH_SCRIPTS = (
    "js/realtime.js",
    "js/hls_player.js",
    "js/player.js",
    "js/shop.js",
    "js/chat.js",
)
STUDIO_SCRIPTS = (
    "js/realtime.js",
    "js/studio_broadcast.js",
    "js/studio_simulcast.js",
    "js/studio_deals.js",
    "js/chat.js",
    "js/studio.js",
)


def safe_next(raw: str | None, default: str = "/") -> str:
    """A same-site path to go back to; anything else (``//evil``, ``https://…``) -> default."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return default
    return raw


def _special_id(request: web.Request) -> int | None:
    return path_id(request.match_info["special_id"])


async def _names(
    db: AsyncSession, specials: Iterable[Special], lang: str
) -> tuple[dict[int, str], dict[int, str]]:
    """Host display names and partner-platform names (in ``lang``) for the cards."""
    specials = list(specials)
    host_ids = {s.host_id for s in specials}
    platform_ids = {s.platform_id for s in specials if s.platform_id is not None}
    hosts: dict[int, str] = {}
    platforms: dict[int, str] = {}
    if host_ids:
        rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(host_ids)))
        hosts = {user_id: name for user_id, name in rows}
    if platform_ids:
        named = await db.execute(
            select(Platform.id, Platform.name, Platform.name_ko).where(
                Platform.id.in_(platform_ids)
            )
        )
        platforms = {pid: i18n.local_name(lang, ko or en, en) for pid, en, ko in named}
    return hosts, platforms


async def _cards(request: web.Request, db: AsyncSession, specials: list[Special]) -> list[Card]:
    items = await special_dicts(db, specials)
    hosts, platforms = await _names(db, specials, templating.language(request))
    return [make_card(item, hosts, platforms) for item in items]


def reminders_available(app: web.Application) -> bool:
    """Whether the calendar part serves ``POST …/reminders`` (the button shows only then)."""
    return any(
        op.method == "POST"
        and op.path.startswith("/api/v1/specials/")
        and op.path.endswith("/reminders")
        for op in app.get(OPERATIONS_KEY, [])
    )


def _wanted_day(request: web.Request) -> date | None:
    """``?day=2021-12-20`` (anything else is ignored: the page shows today)."""
    raw = request.query.get("day", "")
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


async def index(request: web.Request) -> web.Response:
    """``/``: live now, next up, and one day of the season (today unless ``?day=``).

    The other days are links in the day bar: a phone scrolls one day, not the season.
    """
    async with request.app[SESSIONS_KEY]() as db:
        specials = (await list_specials(db, limit=SEASON_LIMIT))[:SEASON_LIMIT]
        cards = await _cards(request, db, specials)
    now = request.app[CLOCK_KEY]()
    zone = request.app[SETTINGS_KEY].zone
    schedule = build_schedule(cards, now, zone)
    today = now.astimezone(zone).date()
    shown_day = pick_day(schedule.days, _wanted_day(request), today)
    ended = [c.id for c in shown_day.cards if c.status == "ended"] if shown_day else []
    who = await principal(request)
    return await templating.render(
        request,
        "index.html",
        {
            "schedule": schedule,
            "shown_day": shown_day,
            "replays": await replay.replays_among(request, ended),
            "now": now,
            "today": today,
            "reminders": reminders_available(request.app),
            "can_run": lambda card: can_run_special(who, int(card.special["host_id"])),
        },
    )


async def _load_card(request: web.Request, special_id: int | None) -> Card | None:
    if special_id is None:
        return None
    async with request.app[SESSIONS_KEY]() as db:
        try:
            special = await get_special(db, special_id)
        except NotFound:
            return None
        return (await _cards(request, db, [special]))[0]


def _ws_url(request: web.Request, special_id: int) -> str:
    parts = urlsplit(link_origin(request))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws/specials/{special_id}"


async def _next_show(request: web.Request, after: Card) -> Card | None:
    """The first scheduled special after ``after``: what an ended page points to."""
    async with request.app[SESSIONS_KEY]() as db:
        found = await list_specials(db, limit=4, status="scheduled")
        found = [s for s in found if s.id != after.id][:1]
        cards = await _cards(request, db, found)
    return cards[0] if cards else None


def _page_bootstrap(
    request: web.Request, card: Card, is_host: bool, next_show: Card | None = None
) -> dict[str, Any]:
    return {
        "special_id": card.id,
        "special": dict(card.special),
        "is_host": is_host,
        "ws_url": _ws_url(request, card.id),
        "server_now": request.app[CLOCK_KEY]().isoformat(),
        "next_special": dict(next_show.special) if next_show else None,
    }


async def not_found_page(request: web.Request) -> web.Response:
    t = templating.translator(request)
    return await templating.render(
        request,
        "error.html",
        {"title": t("error.not_found_title"), "message": t("error.not_found")},
        status=404,
    )


async def watch(request: web.Request) -> web.Response:
    """``/specials/{id}``: video, shop and chat panels around one special."""
    card = await _load_card(request, _special_id(request))
    if card is None:
        return await not_found_page(request)
    who = await principal(request)
    is_host = can_run_special(who, int(card.special["host_id"]))
    next_show = await _next_show(request, card)
    return await templating.render(
        request,
        "watch.html",
        {
            "special": card.special,
            "card": card,
            "next_show": next_show,
            "is_host": is_host,
            "scripts": WATCH_SCRIPTS,
            "bootstrap": _page_bootstrap(request, card, is_host, next_show),
            "webrtc_fallback_ms": round(request.app[SETTINGS_KEY].webrtc_fallback_s * 1000),
        },
    )


async def studio(request: web.Request) -> web.Response:
    """``/studio/{id}``: the host's controls; others are sent to log in (or refused)."""
    who = await principal(request)
    if not who.is_staff:
        raise web.HTTPFound("/login?next=" + quote(request.path, safe="/"))
    card = await _load_card(request, _special_id(request))
    if card is None:
        return await not_found_page(request)
    if not can_run_special(who, int(card.special["host_id"])):
        t = templating.translator(request)
        return await templating.render(
            request,
            "error.html",
            {"title": t("error.forbidden_title"), "message": t("studio.host_only")},
            status=403,
        )
    next_show = await _next_show(request, card)
    return await templating.render(
        request,
        "studio.html",
        {
            "special": card.special,
            "card": card,
            "next_show": next_show,
            "is_host": True,
            "discount_cap": request.app[SETTINGS_KEY].discount_cap_pct,
            "scripts": STUDIO_SCRIPTS,
            "bootstrap": _page_bootstrap(request, card, True, next_show),
        },
    )


async def login(request: web.Request) -> web.Response:
    """``/login``: the form posts JSON to ``/api/v1/session`` (see ``static/js/app.js``)."""
    next_path = safe_next(request.query.get("next"), default="")
    return await templating.render(
        request, "login.html", {"next": next_path, "bootstrap": {"next": next_path}}
    )


async def set_language(request: web.Request) -> web.Response:
    """``/lang?lang=en&next=/``: remember the choice in a cookie and go back (works without JS)."""
    lang = request.query.get("lang", "")
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    if lang in i18n.SUPPORTED:
        session = await get_session(request)
        if session.get("role") == Role.VIEWER.value and "nickname" in session:
            session["nickname"] = nickname_in_language(session["nickname"], lang)
        response.set_cookie(
            i18n.LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, path="/", samesite="Lax"
        )
    raise response


FAVICON = templating.STATIC_DIR / "img" / "favicon.ico"


async def favicon(request: web.Request) -> web.FileResponse:
    """``/favicon.ico``: browsers ask for it on every site, whatever the page links."""
    return web.FileResponse(FAVICON, headers={"Cache-Control": "public, max-age=86400"})


def setup(app: web.Application) -> None:
    """Pages and static files; call after the API parts so their routes are matched first."""
    templating.setup(app)
    app[HTML_NOT_FOUND_KEY] = not_found_page
    app.router.add_get("/", index, name="index")
    app.router.add_get(r"/specials/{special_id:\d+}", watch, name="watch")
    app.router.add_get(r"/studio/{special_id:\d+}", studio, name="studio")
    app.router.add_get("/login", login, name="login")
    app.router.add_get("/lang", set_language, name="lang")
    app.router.add_get("/favicon.ico", favicon, name="favicon")
    app.router.add_static("/static", templating.STATIC_DIR, name="static")
