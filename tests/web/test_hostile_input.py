"""Out-of-range numbers, odd digits, extreme dates, control characters and loose types, on
SQLite and PostgreSQL: each is a 4xx in the contract's error shape and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from livemarket.checkout.tables import deals, orders, products, specials
from livemarket.config import Settings
from livemarket.web.api import OPERATIONS_KEY
from livemarket.web.app import create_app
from livemarket.web.typedefs import ENGINE_KEY
from tests.checkout.checkout_seed import seed_special
from tests.conftest import login

Client = TestClient[Any, Any]
BAD_IDS = ("2147483648", "9223372036854775808", "¹", "١", "0", "-1", "1e3")
BIG_IDS = (2**31, 2**63, 2**64)
TABLES = (specials, products, deals, orders)


@dataclass
class Api:
    client: Client
    app: web.Application
    csrf: str
    host_id: int
    special_id: int
    product_id: int

    async def counts(self) -> list[int]:
        async with self.app[ENGINE_KEY].connect() as conn:
            return [
                int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                for t in TABLES
            ]

    async def send(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
async def api(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    make_settings: Callable[..., Settings],
    database_url: str,
) -> Api:
    """An operator on each backend, with a host and a live special showing one product."""
    from livemarket.accounts.service import create_user
    from livemarket.web.typedefs import SESSIONS_KEY

    app = create_app(make_settings(database_url=database_url))
    client = await aiohttp_client(app)
    password = "correct horse battery"
    await create_user(app[SESSIONS_KEY], username="op", password=password, role="operator")
    host = await create_user(app[SESSIONS_KEY], username="h", password=password, role="host")
    seed = await seed_special(app[ENGINE_KEY], host.id)
    product_id = await seed.product(stock=5)
    return Api(client, app, await login(client, "op"), host.id, seed.special_id, product_id)


async def refused(response: Any, *statuses: int) -> dict[str, Any]:
    """The response is one of ``statuses`` with ``{"error": {"code", "message"}}``."""
    assert response.status in statuses, (response.status, await response.text())
    error = (await response.json())["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return dict(error)


async def test_bad_path_ids_are_404_on_every_route(api: Api) -> None:
    """Ids past the integer column, Unicode digits, zero and signs: 404 (405, 422) on every
    declared route with an id, never 500, and nothing changes."""
    before = await api.counts()
    for op in api.app[OPERATIONS_KEY]:
        names = re.findall(r"\{(\w+)[^}]*\}", op.path)
        if not any(name.endswith("_id") for name in names):
            continue
        for bad in BAD_IDS:
            path = re.sub(r"\{(\w+_id)[^}]*\}", bad, op.path).replace("{fmt:png|svg}", "png")
            response = await api.send(op.method, path, json={})
            await refused(response, 404, 405, 422)  # a body is checked before the path
    assert await api.counts() == before


async def test_big_ids_in_bodies_and_queries_are_422(api: Api) -> None:
    """Ids of 2^31, 2^63 and 2^64 in a body or a query are refused by field."""
    before = await api.counts()
    for big in BIG_IDS:
        order = {
            "items": [{"product_id": big, "quantity": 1}],
            "buyer": {"name": "김민수", "phone": "010-1234-5678", "address": "서울특별시 중구 1"},
        }
        await refused(await api.send("POST", "/api/v1/orders", json=order), 422)
        order["items"] = [{"product_id": api.product_id, "quantity": 1}]
        order["special_id"] = big
        await refused(await api.send("POST", "/api/v1/orders", json=order), 422)
        deal = {"product_id": big, "discount_pct": 10, "duration_s": 60, "quantity": 1}
        path = f"/api/v1/specials/{api.special_id}/deals"
        await refused(await api.send("POST", path, json=deal), 422)
        for name in ("host_id", "platform_id"):
            response = await api.client.get("/api/v1/specials", params={name: str(big)})
            await refused(response, 422)
        special = _special(api, product_ids=[big])
        await refused(await api.send("POST", "/api/v1/specials", json=special), 422)
    assert await api.counts() == before


def _special(api: Api, **overrides: Any) -> dict[str, Any]:
    start = datetime(2027, 1, 5, 10, tzinfo=UTC)
    body: dict[str, Any] = {
        "title": "겨울 라이브",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "host_id": api.host_id,
        "product_ids": [api.product_id],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("starts_at", "ends_at"),
    [
        ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00"),
        ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59-14:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z"),
        ("9999-12-31T22:00:00+00:00", "9999-12-31T23:00:00+00:00"),
    ],
)
async def test_extreme_dates_are_422_and_the_calendar_still_exports(
    api: Api, starts_at: str, ends_at: str
) -> None:
    """Year 1 and year 9999 with extreme offsets are refused; the .ics keeps answering."""
    before = await api.counts()
    body = _special(api, starts_at=starts_at, ends_at=ends_at)
    error = await refused(await api.send("POST", "/api/v1/specials", json=body), 422)
    assert error["field"] in ("starts_at", "ends_at")
    path = f"/api/v1/specials/{api.special_id}"
    await refused(await api.send("PATCH", path, json={"ends_at": ends_at}), 422)
    response = await api.client.get("/api/v1/specials", params={"day": "0001-01-01"})
    await refused(response, 422)
    assert await api.counts() == before
    assert (await api.client.get("/api/v1/specials.ics")).status == 200


@pytest.mark.parametrize("text", ["잼\x00", "a\x1bb", "\u202eedoc", "x\u2066y", "\ud800"])
async def test_controls_and_bidi_overrides_in_text_are_422(api: Api, text: str) -> None:
    """NUL (PostgreSQL's 500), escapes, bidi overrides and lone surrogates (not JSON text:
    400) in any text."""
    before = await api.counts()
    product = await api.send(
        "POST", "/api/v1/products", json={"name": text, "category": "food", "price": 1000}
    )
    await refused(product, 400, 422)
    special = _special(api, title=text)
    await refused(await api.send("POST", "/api/v1/specials", json=special), 400, 422)
    patch = {"description": f"first line\n{text}"}
    path = f"/api/v1/products/{api.product_id}"
    await refused(await api.send("PATCH", path, json=patch), 400, 422)
    await refused(
        await api.send("POST", "/api/v1/session", json={"username": text, "password": "x"}),
        400,
        422,
    )
    assert await api.counts() == before


async def test_multi_line_descriptions_keep_their_line_breaks(api: Api) -> None:
    """Line breaks and tabs stay allowed where text has several lines."""
    path = f"/api/v1/products/{api.product_id}"
    response = await api.send("PATCH", path, json={"description": "첫 줄\n\t둘째 줄"})
    assert response.status == 200, await response.text()


@pytest.mark.parametrize("value", ["50", True, 50.0, None, [50]])
async def test_money_fields_take_numbers_only(api: Api, value: Any) -> None:
    """``"50"``, ``true`` (which was 1 %), 50.0: no number field takes them; nothing changes."""
    before = await api.counts()
    deal = {"product_id": api.product_id, "discount_pct": value, "duration_s": 60, "quantity": 1}
    path = f"/api/v1/specials/{api.special_id}/deals"
    error = await refused(await api.send("POST", path, json=deal), 422)
    assert error["field"] == "discount_pct"
    product = {"name": "유자청", "category": "food", "price": value}
    await refused(await api.send("POST", "/api/v1/products", json=product), 422)
    patch = {"stock": value}
    await refused(await api.send("PATCH", f"/api/v1/products/{api.product_id}", json=patch), 422)
    assert await api.counts() == before


async def test_deal_and_order_credit_outside_the_special_over_http(api: Api) -> None:
    """Over HTTP: a 50 % deal on tomorrow's special is refused (409), and an order credited
    to an ended special is refused (422); neither leaves a row behind."""
    from sqlalchemy import update

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    async with api.app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            update(specials)
            .where(specials.c.id == api.special_id)
            .values(status="scheduled", starts_at=tomorrow, ends_at=tomorrow + timedelta(hours=1))
        )
    before = await api.counts()
    deal = {"product_id": api.product_id, "discount_pct": 50, "duration_s": 3600, "quantity": 1}
    path = f"/api/v1/specials/{api.special_id}/deals"
    error = await refused(await api.send("POST", path, json=deal), 409)
    assert error["code"] == "special_not_live"
    async with api.app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            update(specials).where(specials.c.id == api.special_id).values(status="ended")
        )
    order = {
        "items": [{"product_id": api.product_id, "quantity": 1}],
        "buyer": {
            "name": "김민수",
            "phone": "010-1234-5678",
            "address": "서울특별시 중구 세종대로 110",
        },
        "special_id": api.special_id,
    }
    response = await api.send(
        "POST", "/api/v1/orders", json=order, headers={"Idempotency-Key": "order-key-0001"}
    )
    assert (await refused(response, 422))["code"] == "special_not_selling"
    assert await api.counts() == before


async def test_calendar_survives_a_special_saved_before_times_were_bounded(api: Api) -> None:
    """A year-9999 special already in the table leaves the .ics answering (it is left out)."""
    from sqlalchemy import update

    far = datetime(9999, 12, 31, 20, tzinfo=UTC)
    async with api.app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            update(specials)
            .where(specials.c.id == api.special_id)
            .values(starts_at=far, ends_at=far + timedelta(hours=1), status="scheduled")
        )
    for path in ("/api/v1/specials.ics", f"/api/v1/specials/{api.special_id}.ics"):
        response = await api.client.get(path)
        assert response.status == 200, await response.text()
        assert "BEGIN:VEVENT" not in await response.text()
