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
from tests.browser.conftest import PHONE, LiveServer, NewPage, PageErrors, login_as
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
