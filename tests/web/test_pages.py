"""The HTML pages: schedule, watch and studio shells, login, language, escaping, static files."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.accounts.service import create_user
from livemarket.config import Settings
from livemarket.scheduler.models import Platform, Special
from livemarket.web.app import create_app
from livemarket.web.routes.pages import reminders_available
from livemarket.web.templating import content_security_policy
from livemarket.web.typedefs import CLOCK_KEY, SESSIONS_KEY
from tests.conftest import PASSWORD, UserMaker

Client = TestClient[Any, Any]
NOW = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)  # 19:00 in Seoul
EVIL = '<script>alert("x")</script>'


async def _add_special(
    app: web.Application,
    host_id: int,
    title: str,
    starts: datetime,
    *,
    minutes: int = 60,
    status: str = "scheduled",
    platform_id: int | None = None,
    description: str = "",
) -> int:
    async with app[SESSIONS_KEY].begin() as db:
        special = Special(
            title=title,
            description=description,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=minutes),
            status=status,
            host_id=host_id,
            platform_id=platform_id,
            channel="studio-1",
        )
        db.add(special)
        await db.flush()
        return special.id


async def _add_platform(app: web.Application) -> int:
    async with app[SESSIONS_KEY].begin() as db:
        platform = Platform(slug="grip", name="Grip", name_ko="그립", url="")
        db.add(platform)
        await db.flush()
        return platform.id


@pytest.fixture
def app(settings: Settings) -> web.Application:
    """The real app with its clock stopped at ``NOW``."""
    application = create_app(settings)
    application[CLOCK_KEY] = lambda: NOW
    return application


def _bootstrap(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="lm-bootstrap">(.*?)</script>', html)
    assert match, "page has no bootstrap block"
    return dict(json.loads(match.group(1)))


async def _season(app: web.Application) -> dict[str, int]:
    """A host, a live special, three coming ones and one past midnight in Seoul."""
    host = await create_user(
        app[SESSIONS_KEY], username="hana", password=PASSWORD, role="host", display_name="하나"
    )
    platform = await _add_platform(app)
    ids = {
        "live": await _add_special(
            app,
            host.id,
            "Live kimchi",
            NOW - timedelta(minutes=10),
            status="live",
            platform_id=platform,
        ),
        "past": await _add_special(
            app, host.id, "Yesterday", NOW - timedelta(days=1), status="ended"
        ),
        "next1": await _add_special(app, host.id, "Next one", NOW + timedelta(hours=1)),
        "next2": await _add_special(app, host.id, "Next two", NOW + timedelta(hours=2)),
        "next3": await _add_special(app, host.id, "Next three", NOW + timedelta(hours=3)),
        # 15:30 UTC on the 20th is 00:30 on the 21st in Seoul.
        "late": await _add_special(
            app, host.id, "Midnight snack", datetime(2026, 12, 20, 15, 30, tzinfo=UTC)
        ),
        "cancelled": await _add_special(
            app, host.id, "Called off", NOW + timedelta(hours=5), status="cancelled"
        ),
    }
    ids["host"] = host.id
    return ids


async def _login(client: Client, username: str) -> None:
    """Log in the way a browser on our pages does: with the session's CSRF token."""
    token = (await (await client.get("/api/v1/session")).json())["csrf_token"]
    response = await client.post(
        "/api/v1/session",
        json={"username": username, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 200, await response.text()


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, section_id
    return match.group(0)


async def test_schedule_shows_live_next_and_season_by_seoul_day(
    client: Client, make_user: UserMaker
) -> None:
    """`/` lists live now, the next three, and every special under its Seoul date."""
    ids = await _season(client.server.app)
    response = await client.get("/", headers={"Accept-Language": "en"})
    assert response.status == 200
    html = await response.text()

    live = _section(html, "live")
    assert f'href="/specials/{ids["live"]}"' in live and "Live kimchi" in live
    assert "With Grip" in live and "Host: 하나" in live
    next_up = _section(html, "next")
    assert [t for t in ("Next one", "Next two", "Next three") if t in next_up] == [
        "Next one",
        "Next two",
        "Next three",
    ]
    assert "Midnight snack" not in next_up and "Yesterday" not in next_up

    # One day at a time: today (Seoul), with every other day a link away.
    season = html[html.index('id="schedule"') :]
    assert re.findall(r'<h3 class="day__title" id="day-([\d-]+)-h">', season) == ["2026-12-20"]
    links = re.findall(r'<a href="/\?day=([\d-]+)#schedule"( aria-current="page")?>', season)
    assert links == [("2026-12-19", ""), ("2026-12-20", ' aria-current="page"'), ("2026-12-21", "")]
    for key in ("live", "next1"):
        assert f'href="/specials/{ids[key]}"' in season
    assert "Midnight snack" not in season and "Yesterday" not in season
    assert f'href="/api/v1/specials/{ids["next1"]}.ics"' in season

    late_day = await (
        await client.get("/?day=2026-12-21", headers={"Accept-Language": "en"})
    ).text()
    late_day = late_day[late_day.index('id="schedule"') :]
    assert "Midnight snack" in late_day and "00:30–01:30" in late_day
    assert f'href="/specials/{ids["late"]}"' in late_day
    # A day with nothing on it, or nonsense, shows today.
    for query in ("?day=2027-01-05", "?day=soon", "?day=2026-13-45"):
        other = await (await client.get("/" + query)).text()
        assert 'id="day-2026-12-20-h"' in other, query
    past = await (await client.get("/?day=2026-12-19")).text()
    assert f'href="/specials/{ids["past"]}"' in past[past.index('id="schedule"') :]
    cancelled = f'href="/specials/{ids["cancelled"]}"'
    pages = [season, late_day, past]
    assert any(cancelled in page for page in pages)
    assert not any(f'href="/api/v1/specials/{ids["cancelled"]}.ics"' in page for page in pages)


async def test_user_text_is_escaped_on_every_page(client: Client, make_user: UserMaker) -> None:
    """A title or description holding a script tag is shown as text, in HTML and in JSON."""
    app = client.server.app
    host = await make_user("host", "eve", display_name=EVIL)
    special = await _add_special(app, host.id, EVIL, NOW, description=EVIL)
    await _login(client, "eve")
    for path in ("/", f"/specials/{special}", f"/studio/{special}"):
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path
    bootstrap = _bootstrap(html)
    assert bootstrap["special"]["title"] == EVIL  # intact as data, escaped as markup
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_watch_page_shell_and_bootstrap(client: Client, make_user: UserMaker) -> None:
    """The watch page has the three panel areas and a JSON bootstrap for its scripts."""
    ids = await _season(client.server.app)
    response = await client.get(f"/specials/{ids['live']}")
    assert response.status == 200
    html = await response.text()
    for area in ("watch-layout__video", "watch-layout__chat", "watch-layout__shop"):
        assert area in html
    boot = _bootstrap(html)
    assert boot["special_id"] == ids["live"]
    assert boot["special"]["status"] == "live" and boot["is_host"] is False
    assert re.fullmatch(rf"ws://127\.0\.0\.1:\d+/ws/specials/{ids['live']}", boot["ws_url"])
    assert boot["csrf_token"] and boot["csrf_token"] in html  # the meta tag carries it too
    assert response.headers["Cache-Control"] == "no-store"


async def test_unknown_special_is_an_html_404(client: Client) -> None:
    """A missing special answers a 404 page, not a crash or a JSON body."""
    response = await client.get("/specials/999999")
    assert response.status == 404
    assert response.content_type == "text/html"
    assert "<h1" in await response.text()


async def test_studio_sends_viewers_to_login_and_refuses_other_hosts(
    client: Client, make_user: UserMaker
) -> None:
    """Only the special's host or an operator opens its studio."""
    ids = await _season(client.server.app)
    studio = f"/studio/{ids['live']}"
    await client.get("/")  # an anonymous viewer session, as a browser would have
    response = await client.get(studio, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == f"/login?next={studio}"

    await make_user("host", "other")
    await _login(client, "other")
    response = await client.get(studio)
    assert response.status == 403
    assert "studio-layout" not in await response.text()

    await _login(client, "hana")
    response = await client.get(studio)
    assert response.status == 200
    html = await response.text()
    assert "studio-layout__broadcast" in html and _bootstrap(html)["is_host"] is True

    await make_user("operator", "olga")
    await _login(client, "olga")
    response = await client.get(studio)
    assert response.status == 200
    assert 'href="/console"' in await response.text()


async def test_language_from_browser_cookie_and_switch(client: Client) -> None:
    """English for an English browser, Korean by default, and the switch's cookie wins."""
    html = await (await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})).text()
    assert '<html lang="en">' in html and "Broadcast schedule" in html
    html = await (await client.get("/", headers={"Accept-Language": "fr-FR, de;q=0.5"})).text()
    assert '<html lang="ko">' in html and "방송 편성표" in html

    response = await client.get("/lang?lang=en&next=/login", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert response.cookies["lang"].value == "en"
    html = await (await client.get("/", headers={"Accept-Language": "ko"})).text()
    assert '<html lang="en">' in html


async def test_language_switch_never_redirects_off_site(client: Client) -> None:
    """The switch's `next` only goes to a path on this site; a bad language changes nothing."""
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:1"):
        response = await client.get(
            "/lang", params={"lang": "en", "next": target}, allow_redirects=False
        )
        assert response.headers["Location"] == "/", target
    response = await client.get("/lang?lang=xx&next=/", allow_redirects=False)
    assert "lang" not in response.cookies


async def test_login_page_form_and_its_token_work_with_the_session_api(
    client: Client, make_user: UserMaker
) -> None:
    """The login form has labelled fields, and the page's CSRF token is the one the API wants."""
    await make_user("operator", "olga")
    response = await client.get("/login?next=/studio/1")
    html = await response.text()
    assert '<label for="lm-username">' in html and '<label for="lm-password">' in html
    boot = _bootstrap(html)
    assert boot["next"] == "/studio/1"
    body = {"username": "olga", "password": "correct horse battery"}
    refused = await client.post("/api/v1/session", json=body)
    assert refused.status == 403  # the page gave a session, so the token is required
    accepted = await client.post(
        "/api/v1/session", json=body, headers={"X-CSRF-Token": boot["csrf_token"]}
    )
    assert accepted.status == 200
    html = await (await client.get("/login?next=//evil")).text()
    assert _bootstrap(html)["next"] == ""


async def test_static_files_are_served_with_versioned_urls(client: Client) -> None:
    """The stylesheet and shared script are served by the project, with cache-busting URLs."""
    html = await (await client.get("/")).text()
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"', html)
    js = re.search(r'src="(/static/js/app\.js\?v=[0-9a-f]{12})"', html)
    assert css and js
    response = await client.get(css.group(1))
    assert response.status == 200 and response.content_type == "text/css"
    response = await client.get(js.group(1))
    assert response.status == 200 and "window.LM" in await response.text()
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


async def test_remind_button_for_upcoming_specials_when_reminders_are_served(
    client: Client,
) -> None:
    """ "Remind me" shows on upcoming specials only, and only where the reminders route exists."""
    ids = await _season(client.server.app)
    html = await (await client.get("/")).text()
    assert f'data-lm-remind="{ids["next1"]}"' in html
    for key in ("live", "past", "cancelled"):
        assert f'data-lm-remind="{ids[key]}"' not in html, key
    assert reminders_available(client.server.app)
    assert not reminders_available(web.Application())  # the page then renders no button


async def test_unknown_page_is_an_html_404_and_unknown_api_path_json(client: Any) -> None:
    """People get a readable not-found page; API clients keep the JSON error shape."""
    page = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status == 404
    assert page.content_type == "text/html"
    assert "<html" in (await page.text()).lower()
    api = await client.get("/api/v1/no-such-thing")
    assert api.status == 404
    assert (await api.json())["error"]["code"] == "not_found"


def test_pages_may_connect_to_the_instances_cors_allows(make_settings: Any) -> None:
    """The pages' CSP lets scripts reach the other instances' origins and nothing else."""
    settings = make_settings(
        allowed_origins=("https://i2.shop.example:8443/",),
        instance_url="https://i1.shop.example/whep-root",
    )
    policy = content_security_policy(settings)
    (connect,) = [part.strip() for part in policy.split(";") if "connect-src" in part]
    assert connect.split()[1:] == [
        "'self'",
        "https://i1.shop.example",
        "https://i2.shop.example:8443",
    ]
    assert "script-src 'self';" in policy
