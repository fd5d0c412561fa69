"""Generated links carry only hosts the server is known by: a poisoned ``Host`` gets 400,
never a QR code or calendar pointing elsewhere, and calendar UIDs ignore the host."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.config import Settings
from livemarket.web.app import create_app
from livemarket.web.typedefs import ENGINE_KEY
from tests.checkout.checkout_seed import seed_special

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]


async def _seeded(client: Client, app: web.Application) -> tuple[int, int]:
    from livemarket.accounts.service import create_user
    from livemarket.web.typedefs import SESSIONS_KEY

    host = await create_user(
        app[SESSIONS_KEY], username="host", password="correct horse battery", role="host"
    )
    seed = await seed_special(app[ENGINE_KEY], host.id)
    return seed.special_id, await seed.product(stock=5)


def _paths(special_id: int, product_id: int) -> list[str]:
    return [
        f"/api/v1/products/{product_id}/qr.png",
        f"/api/v1/specials/{special_id}/qr.svg",
        f"/api/v1/specials/{special_id}.ics",
        "/api/v1/specials.ics",
    ]


async def test_unknown_host_gets_400_and_no_link(client: Client, app: web.Application) -> None:
    """``Host: evil.example`` (with any port) gets 400 host_not_allowed on every link maker."""
    special_id, product_id = await _seeded(client, app)
    for host in ("evil.example", f"evil.example:{client.port}", "127.0.0.2:1"):
        for path in _paths(special_id, product_id):
            response = await client.get(path, headers={"Host": host})
            assert response.status == 400, (host, path)
            assert (await response.json())["error"]["code"] == "host_not_allowed"
            assert "public" not in response.headers.get("Cache-Control", "")
    page = await client.get(f"/specials/{special_id}", headers={"Host": "evil.example"})
    assert "evil.example" not in await page.text()


async def test_listening_address_in_each_spelling_is_known(
    client: Client, app: web.Application
) -> None:
    """127.0.0.1 and localhost on the listening port make links; calendar UIDs stay the same."""
    special_id, product_id = await _seeded(client, app)
    uids = set()
    for host in (f"127.0.0.1:{client.port}", f"localhost:{client.port}"):
        for path in _paths(special_id, product_id):
            assert (await client.get(path, headers={"Host": host})).status == 200, (host, path)
        ics = await (
            await client.get(f"/api/v1/specials/{special_id}.ics", headers={"Host": host})
        ).text()
        assert f"URL:http://{host}/specials/{special_id}" in ics
        uids.add(re.search(r"UID:(\S+)", ics).group(1))  # type: ignore[union-attr]
    assert uids == {f"special-{special_id}@livemarket"}


@pytest.mark.parametrize(
    ("setting", "host", "link"),
    [
        ({"public_url": "https://shop.example"}, "evil.example", "https://shop.example"),
        ({"allowed_origins": ("https://tv.example",)}, "tv.example", "https://tv.example"),
    ],
)
async def test_configured_hosts(
    aiohttp_client: MakeClient,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    setting: dict[str, Any],
    host: str,
    link: str,
) -> None:
    """With a public URL links use it whatever the Host; an allowed origin's host is known."""
    app = create_app(make_settings(database_url=sqlite_url, **setting))
    client = await aiohttp_client(app)
    special_id, _product_id = await _seeded(client, app)
    response = await client.get(f"/api/v1/specials/{special_id}.ics", headers={"Host": host})
    assert response.status == 200
    assert f"URL:{link}/specials/{special_id}" in await response.text()
