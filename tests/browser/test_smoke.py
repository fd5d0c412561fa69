"""Real-browser smoke tests of the pages: schedule, language switch, watch layout, login."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livemarket.demo.seed import SeedReport, seed_demo_season
from livemarket.web.typedefs import SESSIONS_KEY, SETTINGS_KEY
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    LiveServer,
    NewPage,
    PageErrors,
    login_as,
    low_contrast,
)


async def _seed(server: LiveServer, data_dir: Path) -> SeedReport:
    settings = server.app[SETTINGS_KEY]
    return await seed_demo_season(
        server.app[SESSIONS_KEY],
        zone=settings.zone,
        now=datetime.now(UTC),
        season_start=None,
        data_dir=data_dir,
    )


async def _box(page: Any, selector: str) -> dict[str, float]:
    box = await page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    return dict(box)


async def test_schedule_lists_the_season_in_chromium(
    live_server: LiveServer, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    """`/` in Chromium shows the live special, what comes next, today, and the other days."""
    report = await _seed(live_server, tmp_path)
    await page.goto(live_server.url("/"))

    assert await page.locator("html").get_attribute("lang") == "ko"
    await page.get_by_role("heading", name="방송 편성표", level=1).wait_for()
    live = page.locator("#live article")
    assert report.live_special_id is not None
    assert await live.count() >= 1
    assert await live.first.locator("h3 a").get_attribute("href") == (
        f"/specials/{report.live_special_id}"
    )
    assert await page.locator("#next article").count() == 3
    # Today's shows only; the nine days are links in the day bar, a tap away.
    assert await page.locator("#schedule section.day").count() == 1
    today = page.locator("#schedule section.day article.special-card")
    assert 1 <= await today.count() < 60
    days = page.get_by_role("navigation", name="방송일").get_by_role("link")
    assert await days.count() == 9
    assert await page.evaluate("document.documentElement.scrollHeight") < 9000
    await days.nth(8).click()
    await page.wait_for_url(re.compile(r"/\?day=\d{4}-\d{2}-\d{2}#schedule$"))
    assert await days.nth(8).get_attribute("aria-current") == "page"
    assert await page.locator("#schedule section.day article.special-card").count() >= 1
    assert await low_contrast(page) == []
    assert page_errors.errors == []


async def test_remind_me_asks_the_server_and_says_so(
    live_server: LiveServer, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    """ "Remind me" on an upcoming special registers the reminder and confirms it in place."""
    await _seed(live_server, tmp_path)
    await page.goto(live_server.url("/"))
    button = page.locator("#next [data-lm-remind]").first
    special_id = await button.get_attribute("data-lm-remind")
    async with page.expect_response(f"**/api/v1/specials/{special_id}/reminders") as answer:
        await button.click()
    assert (await answer.value).status == 200
    confirmed = page.locator(f'#next [data-lm-reminded="{special_id}"]')
    await confirmed.wait_for()
    assert "알림이 설정되었습니다" in await confirmed.inner_text()
    assert page_errors.errors == []


async def test_language_switch_and_keyboard_reach(
    live_server: LiveServer, page: Any, page_errors: PageErrors, tmp_path: Path
) -> None:
    """The language control switches the page to English and back; Tab reaches the skip link."""
    await _seed(live_server, tmp_path)
    await page.goto(live_server.url("/"))
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.className")
    assert focused == "skip-link"

    await page.get_by_role("navigation", name="언어").get_by_role("link", name="English").click()
    await page.wait_for_function("document.documentElement.lang === 'en'")
    await page.get_by_role("heading", name="Broadcast schedule", level=1).wait_for()
    assert await page.locator("#live-now").inner_text() == "Live now"

    await page.get_by_role("navigation", name="Language").get_by_role("link", name="한국어").click()
    await page.wait_for_function("document.documentElement.lang === 'ko'")
    assert page_errors.errors == []


async def test_watch_page_puts_chat_beside_video_on_desktop_and_below_on_phone(
    live_server: LiveServer, new_page: NewPage, tmp_path: Path
) -> None:
    """The watch page keeps chat beside the video on wide screens and under it on phones."""
    report = await _seed(live_server, tmp_path)
    path = f"/specials/{report.live_special_id}"

    desktop = await new_page(viewport=DESKTOP)
    await desktop.goto(live_server.url("/"))
    await desktop.locator("#live article h3 a").first.click()
    await desktop.wait_for_url(re.compile(re.escape(path) + "$"))
    video = await _box(desktop, ".watch-layout__video")
    chat = await _box(desktop, ".watch-layout__chat")
    assert chat["x"] >= video["x"] + video["width"] - 1
    assert abs(chat["y"] - video["y"]) < 2

    phone = await new_page(viewport=PHONE)
    await phone.goto(live_server.url(path))
    video = await _box(phone, ".watch-layout__video")
    chat = await _box(phone, ".watch-layout__chat")
    assert chat["y"] >= video["y"] + video["height"] - 1
    assert chat["width"] > PHONE["width"] * 0.8
    assert await low_contrast(phone) == []


async def test_host_logs_in_through_the_form_and_reaches_the_studio(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors, tmp_path: Path
) -> None:
    """A viewer sent to /login from the studio comes back to it after signing in as operator."""
    report = await _seed(live_server, tmp_path)
    assert report.operator.password is not None
    studio = f"/studio/{report.live_special_id}"
    page = await new_page(locale="en-US")

    await page.goto(live_server.url(studio))
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.locator("#lm-username").fill(report.operator.username)
    await page.locator("#lm-password").fill("not the password")
    await page.locator("#lm-login [type=submit]").click()
    await page.get_by_role("alert").filter(has_text="Wrong username or password.").wait_for()

    await login_as(page, live_server, report.operator.username, report.operator.password, studio)
    await page.get_by_role("heading", level=1, name=re.compile("^Studio: ")).wait_for()
    await page.get_by_role("link", name="Console").wait_for()
    assert page_errors.errors == []


async def test_shared_script_helpers(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """LM formats won and Seoul times, and LM.api carries the CSRF token a bare fetch lacks."""
    page = await new_page(locale="en-US", timezone_id="America/New_York")
    await page.goto(live_server.url("/"))
    assert await page.evaluate("LM.formatKRW(12900)") == "₩12,900"
    assert await page.evaluate("LM.formatKRW(1000000)") == "₩1,000,000"
    # 15:30 UTC is 00:30 next day in Seoul, even for a browser in New York.
    assert await page.evaluate("LM.formatTime('2021-12-18T15:30:00Z')") == "00:30"
    assert await page.evaluate("LM.t('index.reminder_set')") == "Reminder set"
    bare = await page.evaluate(
        """fetch('/api/v1/session', {method: 'PATCH', headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({nickname: 'Rudolph'})}).then(r => r.status)"""
    )
    assert bare == 403
    result = await page.evaluate(
        "LM.api('/api/v1/session', {method: 'PATCH', body: {nickname: 'Rudolph'}})"
    )
    assert result["viewer"]["nickname"] == "Rudolph"
    error = await page.evaluate(
        """LM.api('/api/v1/session', {method: 'PATCH', body: {nickname: '<b>'}})
             .then(() => null, e => [e.name, e.status, e.code])"""
    )
    assert error[0] == "ApiError" and error[1] == 422
    assert page_errors.errors == []
