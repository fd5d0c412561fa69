"""Checkout over HTTP: who may start deals, server-side prices, idempotent orders, pushes."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.checkout.qr import qr_png, qr_svg
from livemarket.web.typedefs import ENGINE_KEY
from tests.checkout.checkout_seed import seed_special
from tests.conftest import PASSWORD, UserMaker, login
from tests.web.realtime.conftest import Peer

BUYER = {"name": "김민수", "phone": "010-1234-5678", "address": "서울특별시 중구 세종대로 110"}
DEAL = {"discount_pct": 30, "duration_s": 300, "quantity": 10, "per_buyer_limit": 2}


@dataclass(frozen=True)
class Shop:
    special_id: int
    product_id: int


@pytest.fixture
async def shop(
    client: TestClient[Any, Any], app: web.Application, make_user: UserMaker
) -> AsyncIterator[Shop]:
    """A live special of the user ``host`` with one 12,900-won product (stock 50)."""
    host = await make_user("host", "host")
    await make_user("host", "other")
    await make_user("operator", "op")
    seed = await seed_special(app[ENGINE_KEY], host.id)
    yield Shop(seed.special_id, await seed.product(stock=50))


async def viewer(client: TestClient[Any, Any]) -> str:
    """Make ``client`` a new anonymous viewer (fresh session); returns its CSRF token."""
    client.session.cookie_jar.clear()
    response = await client.get("/api/v1/session")
    return str((await response.json())["csrf_token"])


async def as_user(client: TestClient[Any, Any], username: str) -> str:
    """Make ``client`` the logged-in ``username`` (fresh session); returns its CSRF token."""
    client.session.cookie_jar.clear()
    return await login(client, username)


async def start(client: TestClient[Any, Any], csrf: str, seed: Shop, **overrides: Any) -> Any:
    body = {"product_id": seed.product_id, **DEAL, **overrides}
    return await client.post(
        f"/api/v1/specials/{seed.special_id}/deals", json=body, headers={"X-CSRF-Token": csrf}
    )


async def buy(
    client: TestClient[Any, Any], csrf: str, key: str, items: list[dict[str, Any]], **extra: Any
) -> Any:
    return await client.post(
        "/api/v1/orders",
        json={"items": items, "buyer": BUYER, **extra},
        headers={"X-CSRF-Token": csrf, "Idempotency-Key": key},
    )


async def test_viewer_cannot_start_a_deal(client: TestClient[Any, Any], shop: Shop) -> None:
    """A viewer gets 403, a host of another special 403, no session 401; no deal exists."""
    assert (await start(client, "", shop)).status == 401
    csrf = await viewer(client)
    refused = await start(client, csrf, shop)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "forbidden"
    csrf = await as_user(client, "other")
    assert (await start(client, csrf, shop)).status == 403
    listed = await client.get(f"/api/v1/specials/{shop.special_id}/deals")
    assert (await listed.json())["items"] == []


async def test_host_starts_a_deal_and_the_cap_holds(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """The special's host starts a 30% deal (201); 51% is refused with ``discount_over_cap``."""
    csrf = await as_user(client, "host")
    over = await start(client, csrf, shop, discount_pct=51)
    assert over.status == 422
    assert (await over.json())["error"]["code"] == "discount_over_cap"
    started = await start(client, csrf, shop)
    assert started.status == 201
    deal = await started.json()
    assert (deal["price"], deal["original_price"], deal["remaining"]) == (9_030, 12_900, 10)
    assert deal["ends_at"].endswith("+00:00")


async def test_forged_price_is_ignored(client: TestClient[Any, Any], shop: Shop) -> None:
    """Prices and totals sent by the client are ignored: the server's deal price applies."""
    await start(client, await as_user(client, "host"), shop)
    csrf = await viewer(client)
    forged = [{"product_id": shop.product_id, "quantity": 1, "price": 1, "unit_price": 1}]
    response = await buy(client, csrf, "forged-price-1", forged, total=1, unit_price=1)
    assert response.status == 201, await response.text()
    order = await response.json()
    assert order["lines"][0]["unit_price"] == 9_030
    assert order["total"] == 9_030


async def test_retried_order_returns_the_same_order(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """The same Idempotency-Key returns the first order (200) and takes stock once."""
    csrf = await viewer(client)
    items = [{"product_id": shop.product_id, "quantity": 2}]
    first = await buy(client, csrf, "retry-0001", items)
    second = await buy(client, csrf, "retry-0001", items)
    assert (first.status, second.status) == (201, 200)
    assert (await first.json())["id"] == (await second.json())["id"]
    product = await client.get(f"/api/v1/products/{shop.product_id}")
    assert (await product.json())["stock"] == 48


async def test_order_needs_a_key_and_valid_buyer(client: TestClient[Any, Any], shop: Shop) -> None:
    """No Idempotency-Key, or a bad phone number: 422, and no stock moves."""
    csrf = await viewer(client)
    items = [{"product_id": shop.product_id, "quantity": 1}]
    no_key = await client.post(
        "/api/v1/orders", json={"items": items, "buyer": BUYER}, headers={"X-CSRF-Token": csrf}
    )
    assert (await no_key.json())["error"]["code"] == "idempotency_key_invalid"
    bad = await client.post(
        "/api/v1/orders",
        json={"items": items, "buyer": {**BUYER, "phone": "12345"}},
        headers={"X-CSRF-Token": csrf, "Idempotency-Key": "bad-phone-1"},
    )
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "buyer_phone_invalid"
    product = await client.get(f"/api/v1/products/{shop.product_id}")
    assert (await product.json())["stock"] == 50


async def test_only_the_buyer_or_an_operator_sees_an_order(
    client: TestClient[Any, Any],
    shop: Shop,
) -> None:
    """Another viewer gets 404 for someone's order; an operator marks it paid, twice, safely."""
    csrf = await viewer(client)
    items = [{"product_id": shop.product_id, "quantity": 1}]
    order = await (await buy(client, csrf, "mine-00001", items)).json()
    assert (await client.get(f"/api/v1/orders/{order['id']}")).status == 200
    peer = Peer(str(client.make_url("")).rstrip("/"))
    try:
        await peer.open_session()
        async with peer.http.get(f"{peer.base}/api/v1/orders/{order['id']}") as response:
            assert response.status == 404
    finally:
        await peer.close()
    csrf = await as_user(client, "op")
    for _ in range(2):
        response = await client.post(
            f"/api/v1/orders/{order['id']}/paid",
            json={"reference": "TX-77"},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status == 200
        paid = await response.json()
    assert (paid["status"], paid["payment_ref"]) == ("paid", "TX-77")


async def test_sales_totals_and_csv(client: TestClient[Any, Any], shop: Shop) -> None:
    """The operator's sales view splits deal and list units and exports the lines as CSV."""
    csrf = await viewer(client)
    item = {"product_id": shop.product_id, "quantity": 1}
    await buy(client, csrf, "list-price-1", [item], special_id=shop.special_id)
    await start(client, await as_user(client, "host"), shop)
    csrf = await viewer(client)  # the host's session is a different buyer: fine
    await buy(client, csrf, "deal-price-1", [{**item, "quantity": 2}])
    # A viewer is known by their session but has no role here: 403.
    assert (await client.get(f"/api/v1/specials/{shop.special_id}/sales")).status == 403
    await as_user(client, "op")
    summary = await (await client.get(f"/api/v1/specials/{shop.special_id}/sales")).json()
    totals = summary["totals"]
    assert (totals["units"], totals["deal_units"], totals["list_units"]) == (3, 2, 1)
    assert totals["revenue"] == 12_900 + 2 * 9_030
    assert totals["discount_given"] == 2 * (12_900 - 9_030)
    response = await client.get(f"/api/v1/specials/{shop.special_id}/sales.csv")
    assert response.content_type == "text/csv"
    text = await response.text()
    assert text.startswith("\ufeff")  # so that Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert sorted(int(r["amount"]) for r in rows) == [12_900, 18_060]


async def test_qr_codes_open_the_pages(client: TestClient[Any, Any], shop: Shop) -> None:
    """PNG and SVG QR codes encode the product's and the special's page on this server."""
    origin = str(client.make_url("")).rstrip("/")
    product = await client.get(f"/api/v1/products/{shop.product_id}/qr.png")
    assert product.content_type == "image/png"
    assert await product.read() == qr_png(f"{origin}/products/{shop.product_id}")
    special = await client.get(f"/api/v1/specials/{shop.special_id}/qr.svg")
    assert special.content_type == "image/svg+xml"
    assert await special.read() == qr_svg(f"{origin}/specials/{shop.special_id}")
    assert (await client.get("/api/v1/products/99999/qr.png")).status == 404
    page = await client.get(f"/products/{shop.product_id}")
    assert page.status == 200
    assert (await client.get("/products/99999")).status == 404


async def test_product_writes_are_for_operators(client: TestClient[Any, Any], shop: Shop) -> None:
    """A viewer cannot add products; an operator adds one and edits its price and stock."""
    body = {"name": "한라봉", "category": "food", "price": 25_000, "stock": 30}
    csrf = await viewer(client)
    refused = await client.post("/api/v1/products", json=body, headers={"X-CSRF-Token": csrf})
    assert refused.status == 403
    csrf = await as_user(client, "op")
    created = await client.post("/api/v1/products", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status == 201
    product = await created.json()
    patched = await client.patch(
        f"/api/v1/products/{product['id']}",
        json={"price": 23_000, "stock": 12},
        headers={"X-CSRF-Token": csrf},
    )
    assert (await patched.json())["price"] == 23_000
    fetched = await (await client.get(f"/api/v1/products/{product['id']}")).json()
    assert (fetched["price"], fetched["stock"]) == (23_000, 12)
    bad = await client.post(
        "/api/v1/products", json={**body, "price": -1}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status == 422


async def test_deal_start_and_end_reach_two_sockets(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """Two viewers' sockets get ``deal.started`` and then ``deal.ended`` when the host ends it."""
    base = str(client.make_url("")).rstrip("/")
    peers = [Peer(base), Peer(base)]
    try:
        sockets = []
        for peer in peers:
            await peer.open_session()
            socket = await peer.connect(shop.special_id)
            await socket.next("hello")
            sockets.append(socket)
        csrf = await as_user(client, "host")
        deal = await (await start(client, csrf, shop)).json()
        started = await asyncio.gather(*(s.next("deal.started") for s in sockets))
        for event in started:
            assert (event["deal_id"], event["price"], event["discount_pct"]) == (
                deal["id"],
                9_030,
                30,
            )
            assert event["ends_at"] == deal["ends_at"]
        ended = await client.delete(
            f"/api/v1/specials/{shop.special_id}/deals/{deal['id']}",
            headers={"X-CSRF-Token": csrf},
        )
        assert ended.status == 200
        for event in await asyncio.gather(*(s.next("deal.ended") for s in sockets)):
            assert event["deal_id"] == deal["id"]
        late = await peers[0].connect(shop.special_id)  # a late viewer's hello has no deal
        hello = await late.next("hello")
        assert hello["deals"] == []
    finally:
        for peer in peers:
            await peer.close()


async def test_hello_snapshot_lists_the_active_deal(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """A viewer joining during a deal sees it in ``hello`` with its remaining units."""
    deal = await (await start(client, await as_user(client, "host"), shop)).json()
    peer = Peer(str(client.make_url("")).rstrip("/"))
    try:
        await peer.open_session()
        hello = await (await peer.connect(shop.special_id)).next("hello")
        assert [(d["deal_id"], d["remaining"]) for d in hello["deals"]] == [(deal["id"], 10)]
    finally:
        await peer.close()


async def test_console_pages_are_for_operators(client: TestClient[Any, Any], shop: Shop) -> None:
    """The sales page and QR sheet redirect a viewer to log in and render for an operator."""
    await viewer(client)
    for path in (f"/console/specials/{shop.special_id}/sales", "/console/qr"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"].startswith("/login")
    await as_user(client, "op")
    page = await client.get(f"/console/specials/{shop.special_id}/sales")
    assert page.status == 200
    sheet = await (await client.get("/console/qr")).text()
    assert f"/api/v1/products/{shop.product_id}/qr.svg" in sheet


async def test_watch_page_has_the_shop_panel(client: TestClient[Any, Any], shop: Shop) -> None:
    """The watch page includes the shop panel and its script."""
    html = await (await client.get(f"/specials/{shop.special_id}")).text()
    assert 'id="lm-shop"' in html
    assert "/static/js/shop.js" in html


async def test_calendar_runner_starts_a_planned_deal(
    client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """The deal starter the calendar uses starts a deal ending at the planned end."""
    from datetime import timedelta

    from livemarket.scheduler.runner import DealStart
    from livemarket.web.typedefs import CLOCK_KEY, DEAL_STARTER_KEY

    now = app[CLOCK_KEY]()
    start = DealStart(
        planned_deal_id=1,
        special_id=shop.special_id,
        product_id=shop.product_id,
        discount_pct=20,
        quantity=5,
        per_buyer_limit=1,
        starts_at=now,
        ends_at=now + timedelta(minutes=3),
    )
    deal_id = await app[DEAL_STARTER_KEY](start)
    listed = await (await client.get(f"/api/v1/specials/{shop.special_id}/deals")).json()
    [deal] = listed["items"]
    assert (deal["id"], deal["price"], deal["quantity"]) == (deal_id, 10_320, 5)
    assert abs(datetime.fromisoformat(deal["ends_at"]) - (now + timedelta(minutes=3))) < timedelta(
        seconds=2
    )


async def test_scale_out_orders_use_the_redis_ledger(
    aiohttp_client: Any,
    make_settings: Any,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """On PostgreSQL + Redis a deal sells through the Lua ledger: deal price, retry, sell-out."""
    from livemarket.accounts.service import create_user
    from livemarket.web.app import create_app
    from livemarket.web.typedefs import CHECKOUT_KEY, SESSIONS_KEY

    app = create_app(
        make_settings(database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix)
    )
    client = await aiohttp_client(app)
    assert type(app[CHECKOUT_KEY].ledger).__name__ == "RedisLedger"
    host = await create_user(app[SESSIONS_KEY], username="host", password=PASSWORD, role="host")
    seed = await seed_special(app[ENGINE_KEY], host.id)
    shop = Shop(seed.special_id, await seed.product(stock=3))
    await start(client, await as_user(client, "host"), shop, quantity=2)
    csrf = await viewer(client)
    items = [{"product_id": shop.product_id, "quantity": 2, "price": 1}]
    first = await buy(client, csrf, "scale-out-1", items)
    again = await buy(client, csrf, "scale-out-1", items)
    assert (first.status, again.status) == (201, 200)
    order = await first.json()
    assert order["lines"][0]["unit_price"] == 9_030
    assert (await again.json())["id"] == order["id"]
    refused = await buy(client, csrf, "scale-out-2", [{**items[0], "quantity": 2}])
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] in {"deal_sold_out", "deal_ended", "sold_out"}
    last = await buy(client, csrf, "scale-out-3", [{**items[0], "quantity": 1}])
    assert (await last.json())["lines"][0]["unit_price"] == 12_900  # deal sold out: list price
