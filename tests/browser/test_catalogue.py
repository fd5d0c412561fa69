"""The console's catalogue in Chromium: refusals beside the field, pictures, archive, platforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from livemarket.accounts.service import create_user
from livemarket.checkout.tables import products
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY
from tests.browser.conftest import PHONE, LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
from tests.web.test_catalogue_api import tiny_png


async def _count(server: LiveServer) -> int:
    async with server.app[ENGINE_KEY].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(products)) or 0)


async def test_an_operator_adds_a_product_with_a_picture_after_a_refusal(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors, tmp_path: Path
) -> None:
    """A price of 0 is refused beside the price field, in Korean, and nothing is saved;
    fixed, the product is saved with its picture and listed; archived, it says so."""
    await create_user(
        live_server.app[SESSIONS_KEY], username="op", password=PASSWORD, role="operator"
    )
    page: Any = await new_page()
    await login_as(page, live_server, "op", PASSWORD, next_path="/console/catalogue")
    await page.wait_for_selector("body[data-lm-catalogue=ready]")
    await page.locator("[data-product-new]").click()
    form = page.locator("#lm-product-form")
    await form.locator("[name=name]").fill("한라봉 3kg")
    await form.locator("[name=price]").fill("0")
    await form.locator("[name=stock]").fill("20")
    await form.locator("[data-product-save]").click()
    error = form.locator("[data-error-for=price]")
    await error.wait_for(state="visible")
    assert "원" in (await error.text_content() or "")
    assert await form.locator("[name=price]").get_attribute("aria-invalid") == "true"
    assert await _count(live_server) == 0

    picture = tmp_path / "hallabong.png"
    picture.write_bytes(tiny_png())
    await form.locator("[name=price]").fill("25000")
    await form.locator("[name=image]").set_input_files(str(picture))
    await form.locator("[data-product-save]").click()
    row = page.locator("[data-product-rows] tr", has_text="한라봉 3kg")
    await row.wait_for()
    assert await row.locator("img.catalogue-thumb").count() == 1
    assert await _count(live_server) == 1

    await row.get_by_role("button").click()
    await form.locator("[data-product-archive]").click()
    await page.locator("#lm-catalogue-notice").wait_for(state="visible")
    await page.locator("[data-product-archived]").check()
    await page.locator("[data-product-rows] tr", has_text="보관됨").wait_for()
    assert page_errors.errors == []


async def test_platforms_are_added_and_a_taken_slug_is_explained_on_a_phone(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A new platform appears in the list; a second one with its slug is refused beside the
    slug field, in English; the page never scrolls sideways on a phone."""
    await create_user(
        live_server.app[SESSIONS_KEY], username="op", password=PASSWORD, role="operator"
    )
    page: Any = await new_page(locale="en-US", viewport=PHONE)
    await page.context.add_cookies([{"name": "lang", "value": "en", "url": live_server.url("/")}])
    await login_as(page, live_server, "op", PASSWORD, next_path="/console/catalogue")
    await page.wait_for_selector("body[data-lm-catalogue=ready]")
    form = page.locator("#lm-platform-form")
    for attempt in range(2):
        await page.locator("[data-platform-new]").click()
        await form.locator("[name=slug]").fill("grip")
        await form.locator("[name=name]").fill("Grip")
        await form.locator("[name=name_ko]").fill("그립")
        await form.locator("[type=submit]").click()
        if attempt == 0:
            await page.locator("[data-platform-rows] tr", has_text="그립").wait_for()
    error = form.locator("[data-error-for=_form], [data-error-for=slug]").filter(has_text="already")
    await error.wait_for(state="visible")
    overflow = await page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0
    assert page_errors.errors == []
