"""Real Chromium: the host goes live from the studio page, a viewer watches it play."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from livemarket.accounts.service import create_user
from livemarket.config import Settings, load_settings
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
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
    return load_settings(
        {},
        data_dir=tmp_path,
        database_url=sqlite_url,
        ice_host_addresses=("127.0.0.1",),
        capacity_per_special=1,
    )


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
    assert figures["video"]["codec"] == "video/VP8"
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
