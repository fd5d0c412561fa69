"""Show figures, the season report and the dashboard pages over HTTP."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.figures.recorder import FiguresRecorder
from livemarket.web.typedefs import ENGINE_KEY
from tests.web.test_checkout_api import Shop, as_user, buy, shop, start, viewer

__all__ = ["shop"]  # the fixture, shared with the checkout tests


async def _two_orders(client: TestClient[Any, Any], seed: Shop) -> None:
    await start(client, await as_user(client, "host"), seed)
    item = {"product_id": seed.product_id, "quantity": 2}
    for key in ("figures-1", "figures-2"):
        csrf = await viewer(client)
        response = await buy(client, csrf, key, [item], special_id=seed.special_id)
        assert response.status == 201, await response.text()


async def test_figures_count_the_orders_and_the_deal_sell_through(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """The host sees two orders, their revenue, two buyers and the deal's curve reach 4 units."""
    await _two_orders(client, shop)
    await as_user(client, "host")
    response = await client.get(f"/api/v1/specials/{shop.special_id}/figures")
    assert response.status == 200, await response.text()
    figures = await response.json()
    totals = figures["totals"]
    assert (totals["orders"], totals["buyers"], totals["revenue"]) == (2, 2, 2 * 2 * 9_030)
    assert figures["minutes"]  # every minute of the show, drawn from start to end
    (deal,) = figures["deals"]
    assert deal["quantity"] == 10
    assert deal["curve"][-1]["sold"] == 4


async def test_figures_are_for_the_host_of_that_special_and_operators(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """A viewer, another host and an unknown special are refused in the contract's shape."""
    url = f"/api/v1/specials/{shop.special_id}/figures"
    await viewer(client)
    assert (await client.get(url)).status == 403
    await as_user(client, "other")
    refused = await client.get(url)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "forbidden"
    await as_user(client, "op")
    assert (await client.get(url)).status == 200
    missing = await client.get("/api/v1/specials/99999/figures")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "special_not_found"


async def test_audience_samples_are_stored_and_drawn(
    client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """A sampler beat stores viewers and likes; the figures show the peak and the likes."""
    samples = iter([{shop.special_id: (12, 3)}, {shop.special_id: (30, 8)}])

    async def sample(ids: list[int]) -> dict[int, tuple[int, int]]:
        assert ids == [shop.special_id]
        return next(samples)

    recorder = FiguresRecorder(app[ENGINE_KEY], sample, lambda: datetime.now(UTC))
    await recorder.beat()
    await recorder.beat()
    await as_user(client, "op")
    figures = await (await client.get(f"/api/v1/specials/{shop.special_id}/figures")).json()
    assert figures["totals"]["peak_viewers"] == 30
    assert figures["totals"]["likes"] == 8
    report = await (await client.get("/api/v1/report")).json()
    (row,) = [r for r in report["special"] if r["special_id"] == shop.special_id]
    assert row["peak_viewers"] == 30


async def test_season_report_and_its_csv(client: TestClient[Any, Any], shop: Shop) -> None:
    """The report groups the orders by special, day, platform and category; CSV per view."""
    await _two_orders(client, shop)
    await viewer(client)
    assert (await client.get("/api/v1/report")).status == 403
    await as_user(client, "op")
    report = await (await client.get("/api/v1/report")).json()
    assert report["totals"]["orders"] == 2
    assert report["totals"]["revenue"] == 36_120
    (food,) = report["category"]
    assert (food["category"], food["units"]) == ("food", 4)
    assert sum(day["orders"] for day in report["day"]) == 2
    assert report["product"][0]["units"] == 4
    response = await client.get("/api/v1/report.csv", params={"view": "category"})
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO((await response.text()).removeprefix("\ufeff"))))
    assert rows[0]["revenue"] == "36120"
    bad = await client.get("/api/v1/report.csv", params={"view": "nope"})
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "invalid_query"


async def test_dashboard_and_report_pages(client: TestClient[Any, Any], shop: Shop) -> None:
    """The host opens their dashboard, others log in or are refused; operators see the report."""
    page = f"/console/specials/{shop.special_id}/dashboard"
    await viewer(client)
    assert (await client.get(page, allow_redirects=False)).status == 302
    await as_user(client, "other")
    assert (await client.get(page, allow_redirects=False)).status == 403
    await as_user(client, "host")
    response = await client.get(page)
    assert response.status == 200
    html = await response.text()
    assert "chart.umd.min.js" in html
    assert 'id="lm-simulcast"' in html  # the partner platforms' push, live, for operators too
    assert (await client.get("/console/report", allow_redirects=False)).status == 302
    await as_user(client, "op")
    assert (await client.get("/console/report")).status == 200
    assert (await client.get("/console/specials/99999/dashboard")).status == 404
