"""Real Chromium: a reminder for one viewer shows on the page they are watching."""

from __future__ import annotations

from livemarket.accounts.service import create_user
from livemarket.scheduler.events import viewer_topic
from livemarket.web.typedefs import BUS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special


async def test_reminder_frame_shows_a_link_to_the_upcoming_special(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A viewer watching one show is told, with a link, that the show they asked about starts."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    watching = await add_special(sessions, host.id)
    page = await new_page(locale="en-US")
    await page.goto(live_server.url(f"/specials/{watching}"))
    await page.locator("#lm-player").wait_for()
    session = await page.evaluate("() => LM.api('/api/v1/session')")
    reminder = {
        "type": "reminder",
        "special_id": 999,
        "title": "<b>Kimchi</b> night",
        "starts_at": "2026-12-18T12:00:00+00:00",
        "url": "/specials/999",
    }
    toast = page.locator("[data-lm-reminder='999']")
    # Published until the page's socket has joined (bounded); the page shows it once.
    for _ in range(50):
        await live_server.app[BUS_KEY].publish(viewer_topic(session["viewer"]["key"]), reminder)
        if await toast.count():
            break
        await page.wait_for_timeout(100)
    await toast.wait_for()
    assert await toast.count() == 1
    assert "<b>Kimchi</b> night starts in ten minutes." in (await toast.inner_text())
    assert await toast.locator("a").get_attribute("href") == "/specials/999"
    assert page_errors.errors == []
