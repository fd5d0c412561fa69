"""The dashboard and the season report in Chromium: charts drawn, live when an order lands."""

from __future__ import annotations

from typing import Any

from livemarket.accounts.service import create_user
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY
from tests.browser.conftest import PHONE, LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import seed_special
from tests.conftest import PASSWORD

_CHART_SUM = """([name, index]) => {
  const chart = Chart.getChart(document.querySelector(`[data-lm-chart="${name}"]`));
  return chart ? chart.data.datasets[index].data.reduce((a, b) => a + b, 0) : null;
}"""

_ORDER = """async ([productId, specialId]) => {
  const buyer = {name: "김민수", phone: "010-1234-5678", address: "서울 중구 세종대로 110"};
  const body = {items: [{product_id: productId, quantity: 1}], special_id: specialId, buyer};
  const headers = {"Idempotency-Key": "dashboard-order-1"};
  const order = await LM.api("/api/v1/orders", {method: "POST", body, headers});
  return order.total;
}"""


async def test_the_dashboard_updates_when_an_order_lands(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """The host's dashboard shows no orders, then one order and its revenue as soon as a
    viewer buys, without a reload (the socket tells it)."""
    host = await create_user(
        live_server.app[SESSIONS_KEY], username="host", password=PASSWORD, role="host"
    )
    seed = await seed_special(live_server.app[ENGINE_KEY], host.id)
    product_id = await seed.product(stock=40, price=12_900)

    dashboard: Any = await new_page(locale="en-US")
    path = f"/console/specials/{seed.special_id}/dashboard"
    await login_as(dashboard, live_server, "host", PASSWORD, next_path=path)
    await dashboard.wait_for_selector("body[data-lm-figures-orders='0']")
    assert await dashboard.evaluate(_CHART_SUM, ["sales", 0]) == 0
    assert await dashboard.locator("[data-lm-tile=orders]").text_content() == "0"

    viewer: Any = await new_page()
    await viewer.goto(live_server.url(f"/specials/{seed.special_id}"))
    await viewer.wait_for_function("() => window.LM && LM.csrfToken()")
    assert await viewer.evaluate(_ORDER, [product_id, seed.special_id]) == 12_900

    await dashboard.wait_for_selector("body[data-lm-figures-orders='1']")
    assert await dashboard.evaluate(_CHART_SUM, ["sales", 0]) == 1
    assert await dashboard.evaluate(_CHART_SUM, ["sales", 1]) == 12_900
    assert "12,900" in (await dashboard.locator("[data-lm-tile=revenue]").text_content() or "")
    assert page_errors.errors == []


async def test_the_season_report_draws_a_chart_per_view_and_fits_a_phone(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Five charts, a table each, no sideways scrolling on a phone."""
    await create_user(
        live_server.app[SESSIONS_KEY], username="op", password=PASSWORD, role="operator"
    )
    await seed_special(live_server.app[ENGINE_KEY])
    page: Any = await new_page(viewport=PHONE)
    await login_as(page, live_server, "op", PASSWORD, next_path="/console/report")
    charts = await page.evaluate(
        "() => [...document.querySelectorAll('[data-lm-report-chart]')]"
        ".filter((c) => Chart.getChart(c)).length"
    )
    assert charts == 5
    assert await page.locator("[data-lm-report-view=special] tbody tr").count() == 1
    overflow = await page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0
    assert page_errors.errors == []
