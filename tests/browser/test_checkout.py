"""Flash deal end to end in two real Chromium pages: the host starts it, a viewer buys."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from livemarket.accounts.service import create_user
from livemarket.checkout.tables import order_lines, orders
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import seed_special
from tests.conftest import PASSWORD


async def test_host_starts_a_30_percent_deal_and_a_viewer_buys_at_the_deal_price(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A pinned product moves to the top; the viewer sees the pushed deal banner counting
    down, buys one, and pays 9,030 (30% off)."""
    host = await create_user(
        live_server.app[SESSIONS_KEY], username="host", password=PASSWORD, role="host"
    )
    seed = await seed_special(live_server.app[ENGINE_KEY], host.id)
    product_id = await seed.product(stock=40, price=12_900)
    other_id = await seed.product(stock=5, price=8_000)

    viewer = await new_page()
    await viewer.goto(live_server.url(f"/specials/{seed.special_id}"))
    await viewer.locator(f"#lm-shop-cards [data-product-id='{product_id}']").wait_for()
    banner = viewer.locator("#lm-deal-banner")
    assert await banner.is_hidden()

    studio: Any = await new_page()
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{seed.special_id}")
    # The host pins the second product: the viewer's shop puts it first (realtime "pin").
    first_card = viewer.locator("#lm-shop-cards > li").first
    assert await first_card.get_attribute("data-product-id") == str(product_id)
    await studio.locator(f"[data-pin='{other_id}']").click()
    await viewer.locator(
        f"#lm-shop-cards > li:first-child.shop-card--pinned[data-product-id='{other_id}']"
    ).wait_for()

    form = studio.locator("[data-deal-form]")
    await form.locator(f"select[name=product_id] option[value='{product_id}']").wait_for(
        state="attached"
    )
    await form.locator("select[name=product_id]").select_option(str(product_id))
    await form.locator("input[name=discount_pct]").fill("30")
    await form.locator("input[name=minutes]").fill("5")
    await form.locator("input[name=quantity]").fill("10")
    await form.locator("[data-deal-start]").click()
    await studio.locator("[data-deal-active] [data-end]").wait_for()

    await banner.wait_for(state="visible")
    assert await banner.locator("[data-deal-price]").text_content() == "₩9,030"
    assert await banner.locator("[data-deal-original]").text_content() == "₩12,900"
    countdown = banner.locator("[data-deal-countdown]")
    first = await countdown.text_content() or ""
    assert re.search(r"[45]:\d\d", first), first
    await viewer.wait_for_function(
        "(before) => document.querySelector('[data-deal-countdown]').textContent !== before",
        arg=first,
    )

    await banner.locator("[data-deal-buy]").click()
    sheet = viewer.locator("#lm-buy-sheet")
    await sheet.locator("[data-sheet-total]").filter(has_text="₩9,030").wait_for()
    await sheet.locator("input[name=name]").fill("김민수")
    await sheet.locator("input[name=phone]").fill("010-1234-5678")
    await sheet.locator("textarea[name=address]").fill("서울특별시 중구 세종대로 110")
    await sheet.locator("[data-sheet-confirm]").click()
    done = sheet.locator("[data-sheet-done]")
    await done.filter(has_text="₩9,030").wait_for()

    async with live_server.app[ENGINE_KEY].connect() as conn:
        rows = (
            await conn.execute(
                select(orders.c.total, order_lines.c.unit_price, order_lines.c.deal_id).join(
                    order_lines, order_lines.c.order_id == orders.c.id
                )
            )
        ).all()
    assert len(rows) == 1
    assert (rows[0].total, rows[0].unit_price) == (9_030, 9_030)
    assert rows[0].deal_id is not None
    # The studio sees the unit sold (pushed as a coalesced stock frame).
    await (
        studio.locator("[data-deal-active] .studio-deals__sold")
        .filter(has_text=re.compile(r"\b1\b"))
        .wait_for()
    )
    assert page_errors.errors == []
