"""Real Chromium: the watch page plays LL-HLS when WebRTC cannot (no seat, no connection)
or when the viewer asks for stable mode; deals still show at once (docs/watch-page.md).

The publisher is aiortc sending H.264 (HLS carries H.264 only) over WHIP; the special
has one WebRTC seat (``capacity_per_special=1``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings
from livemarket.web.i18n import load_catalogs
from livemarket.web.typedefs import ENGINE_KEY, RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import Seed
from tests.conftest import PASSWORD, build_settings
from tests.streamer.peers import start_publisher, whip_signal
from tests.web.realtime.conftest import add_special

#: The video's playback position (s): it advances while HLS plays.
CURRENT_TIME_JS = "() => document.getElementById('lm-player-video').currentTime"
#: Waits (ms) for playback to start: the first HLS segment needs a keyframe and a part.
START_MS = 25_000


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """One WebRTC seat per special, so the second viewer finds the seats full."""
    return build_settings(tmp_path, database_url=sqlite_url, capacity_per_special=1)


@asynccontextmanager
async def _live_special(server: LiveServer) -> AsyncIterator[tuple[int, int]]:
    """(special id, host id): the host (aiortc, H.264 and Opus) is live over WHIP until
    the block ends."""
    sessions = server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)
    async with aiohttp.ClientSession() as http:
        whip = whip_signal(http, server.url(f"/whip/{special_id}"), key)
        publisher = await start_publisher(whip, codec="video/H264")
        try:
            yield special_id, host.id
        finally:
            await publisher.close()


async def _plays(page: Any, mode: str) -> None:
    """The player is in ``mode`` and playing, and the video's position moves on."""
    player = page.locator(f"#lm-player[data-mode={mode}]")
    await player.and_(page.locator("[data-state=playing]")).wait_for(timeout=START_MS)
    if mode == "hls":
        start = await page.evaluate(CURRENT_TIME_JS)
        await page.wait_for_function(f"() => ({CURRENT_TIME_JS})() > {start + 1}")


async def test_past_the_webrtc_seats_a_viewer_plays_hls_and_sees_a_deal_at_once(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Viewer 1 takes the one WebRTC seat; viewer 2 gets 503 webrtc_seats_full and plays
    HLS, told it runs behind; a flash deal shows on viewer 2's page as it starts."""
    ko = load_catalogs()["ko"]
    async with _live_special(live_server) as (special_id, host_id):
        product_id = await Seed(live_server.app[ENGINE_KEY], host_id, special_id).product(stock=9)
        first = await new_page(locale="en-US")
        await first.goto(live_server.url(f"/specials/{special_id}"))
        await _plays(first, "webrtc")
        assert await first.locator("[data-lm-player-behind]").is_hidden()

        second = await new_page(locale="ko-KR")
        async with second.expect_response(
            lambda r: "/whep/" in r.url and r.request.method == "POST"
        ) as refused:
            await second.goto(live_server.url(f"/specials/{special_id}"))
        assert (await refused.value).status == 503
        await _plays(second, "hls")
        assert await second.evaluate("() => LM.hls.reason()") == "seats_full"
        note = second.locator("[data-lm-player-behind]")
        assert await note.is_visible()
        assert await note.text_content() == ko["player.behind"]
        assert live_server.app[RELAYS_KEY].get(special_id).viewer_count == 1

        host_page = await new_page(locale="en-US")
        await login_as(host_page, live_server, "host", PASSWORD)
        deal = {"product_id": product_id, "discount_pct": 20, "duration_s": 600}
        deal |= {"quantity": 5, "per_buyer_limit": 1}
        await host_page.evaluate(
            "([path, body]) => LM.api(path, {method: 'POST', body})",
            [f"/api/v1/specials/{special_id}/deals", deal],
        )
        # On the socket, not behind the video: well within the HLS delay.
        await second.locator("#lm-deal-banner").wait_for(state="visible", timeout=3000)
        # The first viewer still plays WebRTC.
        assert await first.get_attribute("#lm-player", "data-mode") == "webrtc"
    assert page_errors.errors == []


async def test_stable_mode_plays_hls_and_is_remembered(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """The switch (keyboard) moves a WebRTC viewer to HLS and frees its seat; after a
    reload the page starts on HLS without asking WHEP; switching off goes back."""
    async with _live_special(live_server) as (special_id, _):
        viewer = await new_page(locale="en-US")
        await viewer.goto(live_server.url(f"/specials/{special_id}"))
        await _plays(viewer, "webrtc")
        switch = viewer.get_by_role("switch", name="Stable mode")
        await switch.focus()
        await viewer.keyboard.press("Space")
        await _plays(viewer, "hls")
        assert await viewer.evaluate("() => LM.hls.reason()") == "stable"
        assert await viewer.locator("[data-lm-player-behind]").is_visible()
        relay = live_server.app[RELAYS_KEY].get(special_id)
        await viewer.wait_for_function("() => !LM.player.session()")
        assert relay.viewer_count == 0

        offers: list[str] = []
        viewer.on("request", lambda r: offers.append(r.url) if "/whep/" in r.url else None)
        await viewer.reload()
        await _plays(viewer, "hls")
        assert await switch.is_checked()
        assert offers == []

        await switch.focus()
        await viewer.keyboard.press("Space")
        await _plays(viewer, "webrtc")
        assert await viewer.locator("[data-lm-player-behind]").is_hidden()
        assert await viewer.evaluate("() => localStorage.getItem('lm.player.stable')") is None
    assert page_errors.errors == []


async def test_webrtc_that_cannot_connect_falls_back_to_hls(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """WHEP answers, but ICE never connects (no candidates either way): HLS after 4 s."""

    def no_candidates(sdp: str) -> str:
        return "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=candidate"))

    async def whep(route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        response = await route.fetch(post_data=no_candidates(route.request.post_data or ""))
        await route.fulfill(response=response, body=no_candidates(await response.text()))

    async with _live_special(live_server) as (special_id, _):
        viewer = await new_page(locale="en-US")
        await viewer.route("**/whep/*", whep)
        await viewer.goto(live_server.url(f"/specials/{special_id}"))
        await _plays(viewer, "hls")
        assert await viewer.evaluate("() => LM.hls.reason()") == "webrtc_failed"
    assert page_errors.errors == []
