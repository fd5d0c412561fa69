"""Destinations over HTTP: operators only, keys sealed and never shown again, bad input 422."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update

from livemarket.scheduler.models import Special
from livemarket.simulcast.models import SimulcastDestination
from livemarket.simulcast.service import destinations_for_special
from livemarket.web.typedefs import SESSIONS_KEY
from tests.web.test_checkout_api import Shop, as_user, shop

__all__ = ["shop"]

Client = TestClient[Any, Any]
URL = "/api/v1/simulcast/destinations"
KEY = "live_8841_Zq9PxSecret"


async def _platform(client: Client, headers: dict[str, str]) -> int:
    response = await client.post(
        "/api/v1/platforms",
        json={"slug": "grip", "name": "Grip", "name_ko": "그립"},
        headers=headers,
    )
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def test_a_stream_key_goes_in_sealed_and_only_its_tail_comes_out(
    client: Client, app: web.Application, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    """The key is stored encrypted, answered as its last four characters, never logged."""
    caplog.set_level(logging.DEBUG)
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    body = {"name": "Grip", "url": "rtmps://ingest.example:443/live", "stream_key": KEY}
    created = await client.post(URL, json={**body, "special_id": shop.special_id}, headers=headers)
    assert created.status == 201, await created.text()
    answer = await created.json()
    assert answer["stream_key_tail"] == KEY[-4:]
    assert answer["url"] == "rtmps://ingest.example:443/live"
    listed = await (await client.get(URL)).text()
    patched = await client.patch(f"{URL}/{answer['id']}", json={"enabled": False}, headers=headers)
    assert patched.status == 200
    assert (await patched.json())["enabled"] is False
    for shown in (await created.text(), listed, await patched.text(), caplog.text):
        assert KEY not in shown
    async with app[SESSIONS_KEY]() as db:
        rows = (await db.execute(text("SELECT * FROM simulcast_destinations"))).all()
    assert len(rows) == 1
    assert KEY not in repr(rows)


async def test_a_new_key_replaces_the_old_and_delete_removes(
    client: Client, app: web.Application, shop: Shop
) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    body = {"name": "Naver", "url": "rtmp://127.0.0.1/live", "stream_key": KEY}
    created = await client.post(URL, json={**body, "special_id": shop.special_id}, headers=headers)
    destination_id = (await created.json())["id"]
    changed = await client.patch(
        f"{URL}/{destination_id}", json={"stream_key": "another-key-WXYZ"}, headers=headers
    )
    assert (await changed.json())["stream_key_tail"] == "WXYZ"
    assert (await client.delete(f"{URL}/{destination_id}", headers=headers)).status == 204
    missing = await client.delete(f"{URL}/{destination_id}", headers=headers)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "destination_not_found"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"url": "http://ingest.example/live"}, "bad_ingest_url"),
        ({"url": "srt://ingest.example:9000/live"}, "bad_ingest_url"),
        ({"url": "rtmp:///live"}, "bad_ingest_url"),
        ({"url": "rtmp://ingest.example"}, "bad_ingest_url"),
        ({"url": "rtmp://user:pw@ingest.example/live"}, "bad_ingest_url"),
        ({"url": "rtmp://ingest.example/live?key=abc"}, "bad_ingest_url"),
        ({"stream_key": "has spaces in it"}, "bad_stream_key"),
        ({"special_id": None}, "target_missing"),
        ({"special_id": 999999}, "special_not_found"),
        ({"platform_id": 999999}, "platform_not_found"),
        ({"extra": 1}, "invalid_field"),
    ],
)
async def test_bad_input_is_refused_with_422_and_nothing_is_stored(
    client: Client, app: web.Application, shop: Shop, change: dict[str, Any], code: str
) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    body = {"name": "X", "url": "rtmp://ingest.example/live", "stream_key": KEY}
    body.update({"special_id": shop.special_id, **change})
    response = await client.post(URL, json=body, headers=headers)
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == code
    async with app[SESSIONS_KEY]() as db:
        assert list(await db.scalars(select(SimulcastDestination))) == []


async def test_a_bad_edit_changes_nothing(client: Client, app: web.Application, shop: Shop) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    body = {"name": "X", "url": "rtmp://ingest.example/live", "stream_key": KEY}
    created = await client.post(URL, json={**body, "special_id": shop.special_id}, headers=headers)
    destination_id = (await created.json())["id"]
    refused = await client.patch(
        f"{URL}/{destination_id}",
        json={"name": "Y", "url": "ftp://nope/live"},
        headers=headers,
    )
    assert refused.status == 422
    listed = (await (await client.get(URL)).json())["items"]
    assert (listed[0]["name"], listed[0]["url"]) == ("X", "rtmp://ingest.example/live")


async def test_only_operators_manage_destinations(client: Client, shop: Shop) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "host")}
    assert (await client.get(URL)).status == 403
    body = {"name": "X", "url": "rtmp://a.example/live", "stream_key": KEY, "special_id": 1}
    assert (await client.post(URL, json=body, headers=headers)).status == 403


async def test_a_special_airs_on_its_platforms_and_its_own_enabled_destinations(
    client: Client, app: web.Application, shop: Shop
) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    platform_id = await _platform(client, headers)
    async with app[SESSIONS_KEY].begin() as db:
        await db.execute(
            update(Special).where(Special.id == shop.special_id).values(platform_id=platform_id)
        )
    base = {"url": "rtmp://ingest.example/live", "stream_key": KEY}
    for name, extra in [
        ("platform", {"platform_id": platform_id}),
        ("own", {"special_id": shop.special_id}),
        ("off", {"special_id": shop.special_id, "enabled": False}),
    ]:
        response = await client.post(URL, json={**base, "name": name, **extra}, headers=headers)
        assert response.status == 201, await response.text()
    async with app[SESSIONS_KEY]() as db:
        names = [d.name for d in await destinations_for_special(db, shop.special_id)]
    assert names == ["platform", "own"]


async def test_a_refused_key_is_not_echoed_in_the_error(client: Client, shop: Shop) -> None:
    headers = {"X-CSRF-Token": await as_user(client, "op")}
    for key in ("x" * 150 + "SECRET" + "y" * 150, "spaced SECRET key"):
        body = {"name": "X", "url": "rtmp://a.example/live", "stream_key": key}
        response = await client.post(
            URL, json={**body, "special_id": shop.special_id}, headers=headers
        )
        assert response.status == 422
        assert "SECRET" not in await response.text()
