"""Realtime socket caps on a real server: per special, per address, staff exempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from livemarket.config import Settings, load_settings
from livemarket.web.realtime.gateway import SOCKETS_KEY
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import Socket


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Two viewer seats per special (so four sockets), two sockets per address."""
    return load_settings(
        {},
        data_dir=tmp_path,
        database_url=sqlite_url,
        capacity_per_special=2,
        sockets_per_address=2,
    )


class From:
    """Browser-like sessions whose connections come from one loopback address."""

    def __init__(self, client: TestClient[Any, Any], address: str) -> None:
        self.base = str(client.make_url("")).rstrip("/")
        self.address = address
        self.sessions: list[aiohttp.ClientSession] = []
        self.sockets: list[Socket] = []  # kept: a socket no one holds is closed

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(local_addr=(self.address, 0))
        session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.sessions.append(session)
        return session

    async def connect(self, special_id: int, *, login: str | None = None) -> Socket:
        http = self._session()
        if login is not None:
            response = await http.post(
                f"{self.base}/api/v1/session", json={"username": login, "password": PASSWORD}
            )
            assert response.status == 200
        socket = Socket(await http.ws_connect(f"{self.base}/ws/specials/{special_id}"))
        self.sockets.append(socket)
        return socket

    async def refused(self, special_id: int) -> tuple[int, str, str]:
        """Status, error code and Retry-After of an upgrade the server refuses."""
        response = await self._session().get(
            f"{self.base}/ws/specials/{special_id}",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
        body = await response.text()
        assert response.status != 101, "upgraded"
        code = json.loads(body)["error"]["code"]
        return response.status, code, response.headers.get("Retry-After", "")

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()


async def test_sockets_are_capped_per_address_and_per_special_staff_exempt(
    client: TestClient[Any, Any], live_special: int
) -> None:
    """Two sockets per address (then 429); twice the viewer cap per special (then 503),
    both with Retry-After; the host still gets in to a full room; a closed socket frees
    its place."""
    one, two, three = (From(client, f"127.0.0.{n}") for n in (1, 2, 3))
    seats = client.app[SOCKETS_KEY].seats
    try:
        first = await one.connect(live_special)
        await first.next("hello")
        await (await one.connect(live_special)).next("hello")
        status, code, retry = await one.refused(live_special)
        assert (status, code) == (429, "too_many_sockets") and int(retry) >= 1

        for _ in range(2):
            await (await two.connect(live_special)).next("hello")
        status, code, retry = await three.refused(live_special)
        assert (status, code) == (503, "room_full") and int(retry) >= 1

        host = await three.connect(live_special, login="host")
        assert (await host.next("hello"))["you"]["moderator"] is True
        assert seats.count(live_special) == 4

        await first.ws.close()
        await (await three.connect(live_special)).next("hello")
        assert seats.from_address("127.0.0.3") == 1
        assert seats.count(live_special) == 4
    finally:
        for peer in (one, two, three):
            await peer.close()
