"""Keyboard only: a host goes live, a viewer chats and buys during a flash deal, no mouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livemarket.accounts.service import create_user
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import Seed
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special

#: Tab presses allowed to reach a control: more would mean it is not reachable in practice.
MAX_TABS = 80


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 (Chromium runs with --allow-loopback-in-peer-connection)."""
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


async def tab_to(page: Any, selector: str) -> None:
    """Press Tab until ``selector`` has the focus (fails if it never gets it)."""
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    focused = await page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{selector} not reached in {MAX_TABS} tabs (at {focused})")


async def test_a_host_goes_live_and_a_viewer_chats_and_buys_by_keyboard(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Go live, send a chat message, and buy at the deal price with Tab, typing and Enter."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    product_id = await Seed(live_server.app[ENGINE_KEY], host.id, special_id).product(stock=9)

    studio = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("[data-lm-camera] option").first.wait_for(state="attached")
    await tab_to(studio, "[data-lm-go-live]")
    await studio.keyboard.press("Enter")
    await studio.locator("#lm-broadcast[data-state=live]").wait_for(timeout=20_000)

    viewer = await new_page(locale="en-US")
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    await viewer.locator("[data-lm-chat-nick]").wait_for()  # the socket said hello
    await tab_to(viewer, "[data-lm-chat-input]")
    await viewer.keyboard.type("Hello from the keyboard")
    await viewer.keyboard.press("Enter")
    await studio.locator(".lm-chat__msg", has_text="Hello from the keyboard").wait_for()

    deal = {"product_id": product_id, "discount_pct": 30, "duration_s": 600}
    deal |= {"quantity": 5, "per_buyer_limit": 2}
    await studio.evaluate(
        "([path, body]) => LM.api(path, {method: 'POST', body})",
        [f"/api/v1/specials/{special_id}/deals", deal],
    )
    await viewer.locator("#lm-deal-banner").wait_for(state="visible")
    await viewer.evaluate("document.activeElement.blur()")
    await tab_to(viewer, "[data-deal-buy]")
    await viewer.keyboard.press("Enter")
    sheet = viewer.locator("#lm-buy-sheet")
    await sheet.wait_for(state="visible")
    assert await viewer.evaluate("document.activeElement.name") == "quantity"
    for name, text in (("name", "Kim Minsu"), ("phone", "010-1234-5678")):
        await tab_to(viewer, f"#lm-buy-sheet [name={name}]")
        await viewer.keyboard.type(text)
    await tab_to(viewer, "#lm-buy-sheet [name=address]")
    await viewer.keyboard.type("110 Sejong-daero, Jung-gu, Seoul")
    await tab_to(viewer, "#lm-buy-sheet [data-sheet-confirm]")
    await viewer.keyboard.press("Enter")
    await sheet.locator("[data-sheet-done]").filter(has_text="₩9,030").wait_for()
    # Escape closes the sheet and the page is usable again.
    await viewer.keyboard.press("Escape")
    await sheet.wait_for(state="hidden")
    assert page_errors.errors == []
