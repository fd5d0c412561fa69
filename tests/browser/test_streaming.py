"""Real Chromium: the host goes live from the studio page, a viewer watches it play."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow
from livemarket.web.app import create_app
from livemarket.web.i18n import load_catalogs
from livemarket.web.typedefs import ENGINE_KEY, RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import Seed
from tests.conftest import PASSWORD, build_settings
from tests.streamer.peers import start_publisher, whip_signal
from tests.web.realtime.conftest import add_special

FRAMES_JS = """() => {
  const video = document.getElementById("lm-player-video");
  return video.getVideoPlaybackQuality().totalVideoFrames;
}"""


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 only (Chromium runs with --allow-loopback-in-peer-connection).

    One viewer per special, so the second page of the cap test finds the room full.
    """
    return build_settings(tmp_path, database_url=sqlite_url, capacity_per_special=1)


async def test_studio_publishes_and_watch_page_plays(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Fake camera -> studio (WHIP) -> relay -> watch page (WHEP): frames keep advancing."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    # Five minutes before its slot: the host may go live early from the studio.
    async with sessions.begin() as db:
        special = await db.get(Special, special_id)
        assert special is not None
        special.status = "scheduled"
        special.starts_at = utcnow() + timedelta(minutes=5)

    viewer = await new_page(locale="en-US")
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    player = viewer.locator("#lm-player")
    await player.and_(viewer.locator("[data-state=waiting]")).wait_for()

    studio = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("[data-lm-camera] option").first.wait_for(state="attached")
    await studio.locator("[data-lm-go-live]").click()
    await studio.locator("#lm-broadcast[data-state=live]").wait_for(timeout=20_000)

    await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
    first = await viewer.evaluate(FRAMES_JS)
    await viewer.wait_for_timeout(1500)
    later = await viewer.evaluate(FRAMES_JS)
    assert later > first + 10, (first, later)
    # chat sits beside the video on the same page
    assert await viewer.locator("[data-lm-chat]").count() == 1

    # Going live from the studio is recorded in the calendar.
    special = await studio.evaluate(f"() => LM.api('/api/v1/specials/{special_id}')")
    assert special["status"] == "live"

    figures = live_server.app[RELAYS_KEY].get(special_id).figures()
    assert figures["state"] == "live"
    assert figures["viewers"] == 1
    # The studio prefers H.264 (the HLS output carries it untouched): the viewer that
    # waited on the relay's pre-show VP8 was switched over and plays it.
    assert figures["video"]["codec"] == "video/H264"
    # ... so the show is also LL-HLS, the studio's H.264 packaged untouched
    await viewer.wait_for_function(
        f"() => LM.api('/api/v1/specials/{special_id}/stream').then(s => s.hls.available)",
        timeout=15_000,
    )
    index = await viewer.evaluate(
        f"() => fetch('/hls/{special_id}/index.m3u8').then(r => r.text())"
    )
    assert 'CODECS="avc1.' in index, index
    await studio.locator("[data-lm-broadcast-viewers]").filter(has_text="1").wait_for()

    # The host reloads the studio: it goes live again by itself, and the viewer's
    # page (not reloaded) resumes playing on the new stream.
    await studio.reload()
    await studio.locator("#lm-broadcast[data-state=live]").wait_for(timeout=20_000)
    resumed_from = await viewer.evaluate(FRAMES_JS)
    await viewer.wait_for_function(
        f"() => document.getElementById('lm-player-video')"
        f".getVideoPlaybackQuality().totalVideoFrames > {resumed_from + 20}",
        timeout=20_000,
    )
    assert await viewer.locator("#lm-player[data-state=playing]").count() == 1

    # Ending from the studio asks first, then closes the show in the calendar too.
    studio.once("dialog", lambda dialog: dialog.accept())
    await studio.locator("[data-lm-end]").click()
    await studio.locator("#lm-broadcast[data-state=ended]").wait_for()
    await studio.wait_for_function(
        f"() => LM.api('/api/v1/specials/{special_id}').then(s => s.status === 'ended')"
    )
    assert page_errors.errors == []


async def test_full_room_says_so_and_chat_still_works(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Over the viewer cap the player explains the room is full; the chat panel still works."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    first = await new_page(locale="en-US")
    await first.goto(live_server.url(f"/specials/{special_id}"))
    await first.locator("#lm-player[data-state=waiting]").wait_for()

    second = await new_page(locale="en-US")
    await second.goto(live_server.url(f"/specials/{special_id}"))
    await second.locator("#lm-player[data-state=full]").wait_for()
    message = await second.locator("[data-lm-player-message]").text_content()
    assert message is not None and "full" in message
    box = second.locator("[data-lm-chat-input]")
    await box.fill("still here")
    await box.press("Enter")
    await first.locator(".lm-chat__msg", has_text="still here").wait_for()
    assert page_errors.errors == []


async def test_studio_and_watch_pages_speak_korean(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """In a Korean browser the player's and the studio's texts, set by their scripts, are Korean."""
    ko = load_catalogs()["ko"]
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)

    viewer = await new_page(locale="ko-KR")
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    await viewer.locator("#lm-player[data-state=waiting]").wait_for()
    message = viewer.locator("[data-lm-player-message]")
    assert await message.text_content() == ko["player.waiting"]

    studio = await new_page(locale="ko-KR")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("[data-lm-camera] option").first.wait_for(state="attached")
    state = studio.locator("[data-lm-broadcast-state]")
    assert await state.text_content() == ko["broadcast.offline"]
    assert await studio.locator("[data-lm-go-live]").text_content() == ko["broadcast.go_live"]
    # LM.t in the page's script reads the Korean catalog the server embedded
    assert await studio.evaluate("() => LM.t('broadcast.live')") == ko["broadcast.live"]
    assert page_errors.errors == []


async def test_watch_page_follows_the_307_to_another_origin(
    new_page: NewPage,
    page_errors: PageErrors,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    redis_url: str,
    redis_prefix: str,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    """Page on instance B, stream on A (another port, so another origin): it plays from A.

    Chromium's fetch follows WHEP's 307, preflights A, reads the exposed Location,
    and its DELETE goes to A.
    """
    ports = {"a": unused_port(), "b": unused_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    apps = {}
    for name, other in (("a", "b"), ("b", "a")):
        settings = make_settings(
            database_url=sqlite_url,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            instance_url=urls[name],
            allowed_origins=(urls[other],),
        )
        apps[name] = create_app(settings)
        await aiohttp_server(apps[name], host="127.0.0.1", port=ports[name])
    sessions = apps["a"][SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)

    async with aiohttp.ClientSession() as http:
        whip = whip_signal(http, f"{urls['a']}/whip/{special_id}", key)
        publisher = await start_publisher(whip)
        try:
            viewer = await new_page(locale="en-US")
            await viewer.goto(f"{urls['b']}/specials/{special_id}")
            await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
            first = await viewer.evaluate(FRAMES_JS)
            await viewer.wait_for_function(
                f"() => LM.player.frames() > {first + 10}", timeout=10_000
            )
            session = await viewer.evaluate("() => LM.player.session()")
            assert session.startswith(f"{urls['a']}/whep/{special_id}/")
            assert apps["a"][RELAYS_KEY].get(special_id).viewer_count == 1
            relay_b = apps["b"][RELAYS_KEY].find(special_id)
            assert relay_b is None or relay_b.viewer_count == 0

            # leaving sends the DELETE to A, where the session lives
            async with viewer.expect_response(
                lambda r: r.url == session and r.request.method == "DELETE"
            ) as deleted:
                await viewer.evaluate("() => LM.player.reconnect()")
            response = await deleted.value
            # 404 when the closed peer connection ended the session first (the DELETE's
            # preflight makes it the slower of the two); either way A answered the page.
            assert response.status in (200, 404)
            assert (await response.all_headers())["access-control-allow-origin"] == urls["b"]
            old = session.rsplit("/", 1)[1]
            assert old not in apps["a"][RELAYS_KEY].get(special_id).viewer_sessions
        finally:
            await publisher.close()
    assert page_errors.errors == []


async def test_when_the_host_ends_the_viewer_sees_no_live_badge_no_deal_and_what_is_next(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Ending the show clears the LIVE badge and the flash-deal banner on the watch page,
    and its notice points to the next show."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    product_id = await Seed(live_server.app[ENGINE_KEY], host.id, special_id).product(stock=9)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)
        db.add(
            Special(
                title="Next: mulled wine",
                starts_at=utcnow() + timedelta(hours=2),
                ends_at=utcnow() + timedelta(hours=3),
                status="scheduled",
                host_id=host.id,
            )
        )

    async with aiohttp.ClientSession() as http:
        whip = whip_signal(http, live_server.url(f"/whip/{special_id}"), key)
        publisher = await start_publisher(whip)
        try:
            viewer = await new_page(locale="en-US")
            await viewer.goto(live_server.url(f"/specials/{special_id}"))
            await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
            badge = viewer.locator("[data-lm-player-live]")
            assert await badge.is_visible()

            host_page = await new_page(locale="en-US")
            await login_as(host_page, live_server, "host", PASSWORD)
            deal = {"product_id": product_id, "discount_pct": 20, "duration_s": 600}
            deal |= {"quantity": 5, "per_buyer_limit": 1}
            await host_page.evaluate(
                "([path, body]) => LM.api(path, {method: 'POST', body})",
                [f"/api/v1/specials/{special_id}/deals", deal],
            )
            banner = viewer.locator("#lm-deal-banner")
            await banner.wait_for(state="visible")

            await host_page.evaluate(
                "(path) => LM.api(path, {method: 'POST'})", f"/api/v1/specials/{special_id}/end"
            )
            await viewer.locator("#lm-player[data-state=ended]").wait_for()
            assert await badge.is_hidden()
            await banner.wait_for(state="hidden")
            notice = viewer.locator("[data-lm-status-notice]")
            await notice.filter(has_text="This broadcast has ended.").wait_for()
            next_link = notice.get_by_role("link", name="Next: mulled wine")
            await next_link.wait_for()
            assert (await next_link.get_attribute("href") or "").startswith("/specials/")
            assert await viewer.locator("[data-lm-status]").inner_text() == "Ended"
            # The frozen frame stays hidden: frames no longer advance the state.
            await viewer.wait_for_timeout(1500)
            assert await viewer.locator("#lm-player").get_attribute("data-state") == "ended"
        finally:
            await publisher.close()
    assert page_errors.errors == []
