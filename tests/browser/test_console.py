"""The operator console in Chromium: create, move, an overlap refused in place, shown on `/`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from livemarket.accounts.service import create_user
from livemarket.checkout.models import Product
from livemarket.scheduler.models import Special
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import DESKTOP, PHONE, LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD

SEOUL = ZoneInfo("Asia/Seoul")


async def _accounts(server: LiveServer) -> None:
    sessions = server.app[SESSIONS_KEY]
    await create_user(sessions, username="op", password=PASSWORD, role="operator")
    await create_user(
        sessions, username="minji", password=PASSWORD, role="host", display_name="Minji"
    )
    await create_user(
        sessions, username="joon", password=PASSWORD, role="host", display_name="Joon"
    )
    async with sessions() as db:
        db.add(
            Product(
                sku="TANG-1",
                name="제주 감귤",
                name_en="Jeju tangerines",
                category="food",
                price=19900,
                stock=100,
            )
        )
        await db.commit()


async def _fill(
    page: Any, *, title: str, day: str, start: str, end: str, host: str, channel: str
) -> None:
    await page.locator("#lm-f-title").fill(title)
    await page.locator("#lm-f-date").fill(day)
    await page.locator("#lm-f-start").fill(start)
    await page.locator("#lm-f-end").fill(end)
    await page.locator("#lm-f-host").select_option(label=host)
    await page.locator("#lm-f-channel").fill(channel)


async def test_operator_plans_a_special_in_the_console(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Log in, create a special, move it, see a channel clash refused in place, find it on /."""
    await _accounts(live_server)
    page = await new_page(locale="en-US")
    tomorrow = (datetime.now(SEOUL) + timedelta(days=1)).date().isoformat()

    await page.goto(live_server.url("/console"))
    await page.wait_for_url(re.compile(r"/login\?next=/console$"))
    await login_as(page, live_server, "op", PASSWORD, next_path="/console")
    await page.get_by_role("heading", name="Calendar console", level=1).wait_for()

    # Create.
    await page.get_by_role("button", name="New special").click()
    await _fill(
        page,
        title="Tangerine night <b>live</b>",
        day=tomorrow,
        start="19:00",
        end="20:00",
        host="Minji",
        channel="studio-1",
    )
    await page.get_by_label("Jeju tangerines").check()
    await page.get_by_role("button", name="Save").click()
    block = page.locator(".cw-block", has_text="Tangerine night <b>live</b>")
    await block.wait_for()
    assert "19:00–20:00" in await block.inner_text()
    async with live_server.app[SESSIONS_KEY]() as db:
        special = await db.scalar(select(Special))
        assert special is not None
        assert special.starts_at.astimezone(SEOUL).strftime("%H:%M") == "19:00"

    # Move (the edit form), to 21:00–22:00.
    await block.click()
    await page.locator("#lm-f-start").fill("21:00")
    await page.locator("#lm-f-end").fill("22:00")
    await page.get_by_role("button", name="Save").click()
    await page.locator(".cw-block", has_text="21:00–22:00").wait_for()
    async with live_server.app[SESSIONS_KEY]() as db:
        moved = await db.scalar(select(Special).execution_options(populate_existing=True))
        assert moved is not None
        assert moved.starts_at.astimezone(SEOUL).strftime("%H:%M") == "21:00"
        assert moved.version == 2

    # A second special on the same channel at an overlapping time is refused in place.
    await page.get_by_role("button", name="New special").click()
    await _fill(
        page,
        title="Clashing show",
        day=tomorrow,
        start="21:30",
        end="22:30",
        host="Joon",
        channel="studio-1",
    )
    await page.get_by_role("button", name="Save").click()
    channel_error = page.locator('[data-error-for="channel"]')
    await channel_error.wait_for()
    assert await channel_error.inner_text() == (
        "That channel is taken by another special at that time."
    )
    assert await page.locator("#lm-f-channel").get_attribute("aria-invalid") == "true"
    assert await page.locator("#lm-special-dialog").is_visible()
    async with live_server.app[SESSIONS_KEY]() as db:
        assert len(list(await db.scalars(select(Special)))) == 1
    await page.get_by_role("button", name="Close").click()

    # Drag the block to 18:00 on the other channel (48px per hour in the grid).
    moved_block = page.locator(".cw-block", has_text="21:00–22:00")
    lane = page.locator(f'.cw-lane[data-day="{tomorrow}"][data-channel="studio-2"]')
    await lane.scroll_into_view_if_needed()
    await moved_block.drag_to(
        lane, source_position={"x": 10, "y": 5}, target_position={"x": 10, "y": 18 * 48 + 5}
    )
    await page.locator(".cw-block", has_text="18:00–19:00").wait_for()
    async with live_server.app[SESSIONS_KEY]() as db:
        dragged = await db.scalar(select(Special).execution_options(populate_existing=True))
        assert dragged is not None
        assert dragged.starts_at.astimezone(SEOUL).strftime("%H:%M") == "18:00"
        assert dragged.channel == "studio-2"
        assert dragged.version == 3

    # The public schedule shows it, escaped, linking to its watch page.
    await page.goto(live_server.url("/"))
    card = page.locator("article", has_text="Tangerine night <b>live</b>").first
    await card.wait_for()
    link = card.locator(f'a[href="/specials/{special.id}"]').first
    assert await link.count() == 1
    assert page_errors.errors == []


async def test_console_day_list_on_a_phone(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """On a small screen the console opens as a day list, and hosts are refused the console."""
    await _accounts(live_server)
    page = await new_page(locale="ko-KR", viewport=PHONE)
    await login_as(page, live_server, "op", PASSWORD, next_path="/console")
    await page.get_by_role("heading", name="편성 콘솔", level=1).wait_for()
    # The script shows the list once it has the calendar; the heading comes first.
    await page.locator("#lm-console-list").wait_for(state="visible")
    await page.locator(".cl-day").nth(8).wait_for()
    assert not await page.locator("#lm-console-week").is_visible()
    assert await page.locator(".cl-day").count() == 9

    host = await new_page(locale="ko-KR")
    await login_as(host, live_server, "minji", PASSWORD, next_path="/")
    response = await host.goto(live_server.url("/console"))
    assert response is not None and response.status == 403
    assert page_errors.errors == []


# Every line of every block either shows whole or not at all (wrapped out of sight).
_CLIPPED_LINES_JS = """() => {
  const clipped = [];
  for (const block of document.querySelectorAll(".cw-block")) {
    const b = block.getBoundingClientRect();
    for (const line of block.children) {
      const r = line.getBoundingClientRect();
      const outside = r.left >= b.right - 1 || r.top >= b.bottom - 1;
      const inside = r.bottom <= b.bottom + 0.5 && r.right <= b.right + 0.5;
      if (!outside && !inside) clipped.push(`${block.textContent} / ${line.textContent}`);
    }
  }
  return clipped;
}"""


async def test_week_view_shows_early_shows_whole_lines_and_fits_a_laptop(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """The week opens with a 00:30 show in sight, nine days by two channels fit 1,366 px,
    block text is never cut mid-line, and a refusal neither stretches the dropdowns nor
    leaves the earlier "Saved." beside it."""
    await _accounts(live_server)
    page = await new_page(locale="en-US", viewport=DESKTOP)
    await login_as(page, live_server, "op", PASSWORD, next_path="/console")
    tomorrow = (datetime.now(SEOUL) + timedelta(days=1)).date().isoformat()
    shows = (
        ("Midnight snack", "00:30", "01:00", "studio-1"),
        ("Half-hour carols with a rather long title", "10:00", "10:30", "studio-2"),
        ("Evening market", "19:00", "21:00", "studio-1"),
    )
    for title, start, end, channel in shows:
        await page.get_by_role("button", name="New special").click()
        await _fill(
            page, title=title, day=tomorrow, start=start, end=end, host="Minji", channel=channel
        )
        await page.get_by_role("button", name="Save").click()
        await page.locator(".cw-block", has_text=title).wait_for()
    saved = page.locator("#lm-console-notice")
    assert await saved.is_visible()

    await page.reload()
    early = page.locator(".cw-block", has_text="Midnight snack")
    await early.wait_for()
    week_box = await page.locator("#lm-console-week").bounding_box()
    early_box = await early.bounding_box()
    assert week_box is not None and early_box is not None
    assert week_box["y"] <= early_box["y"] < week_box["y"] + week_box["height"]

    fits = await page.evaluate(
        """() => {
          const week = document.getElementById("lm-console-week");
          const heads = [...document.querySelectorAll(".cw-dayhead__date")];
          return {
            grid: document.querySelector(".cw").scrollWidth <= week.clientWidth,
            heads: heads.filter((h) => h.scrollWidth > h.clientWidth).map((h) => h.textContent),
            page: document.scrollingElement.scrollWidth <= window.innerWidth,
          };
        }"""
    )
    assert fits == {"grid": True, "heads": [], "page": True}
    assert await page.evaluate(_CLIPPED_LINES_JS) == []

    # A refusal: the earlier "Saved." goes, the dropdowns keep their height.
    await page.get_by_role("button", name="New special").click()
    host_height = (await page.locator("#lm-f-host").bounding_box() or {})["height"]
    await _fill(
        page,
        title="Clash",
        day=tomorrow,
        start="19:30",
        end="20:30",
        host="Joon",
        channel="studio-1",
    )
    await page.get_by_role("button", name="Save").click()
    await page.locator('[data-error-for="channel"]').wait_for()
    assert not await saved.is_visible()
    for dropdown in ("#lm-f-host", "#lm-f-platform"):
        box = await page.locator(dropdown).bounding_box()
        assert box is not None and abs(box["height"] - host_height) < 1, dropdown
    assert page_errors.errors == []


async def test_one_rule_for_product_names_in_each_language(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """The English interface shows the English product name everywhere (QR sheet, dialog,
    product page); the Korean one the Korean name."""
    await _accounts(live_server)
    async with live_server.app[SESSIONS_KEY]() as db:
        product_id = await db.scalar(select(Product.id))
    for locale, shown in (("en-US", "Jeju tangerines"), ("ko-KR", "제주 감귤")):
        page = await new_page(locale=locale)
        await login_as(page, live_server, "op", PASSWORD, next_path="/console")
        await page.get_by_role("button", name=re.compile("New special|새 방송")).click()
        assert await page.locator(".console-check").inner_text() == shown
        await page.goto(live_server.url("/console/qr"))
        assert await page.locator(".qr-sheet__title").all_inner_texts() == [shown]
        await page.goto(live_server.url(f"/products/{product_id}"))
        assert await page.locator("h1").inner_text() == shown
    assert page_errors.errors == []
