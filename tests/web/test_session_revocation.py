"""Sessions end on the server: an old cookie replayed after logout, a new password or a
disabled account reads and changes nothing, on this instance or another."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from livemarket.web import revocation
from livemarket.web.cli import main
from livemarket.web.typedefs import SESSIONS_KEY
from tests.conftest import PASSWORD, StartInstance, UserMaker

Client = TestClient[Any, Any]


async def _login(client: Client, username: str) -> tuple[str, str]:
    """Log in afresh; the session cookie's value and the CSRF token."""
    client.session.cookie_jar.clear()
    response = await client.post(
        "/api/v1/session", json={"username": username, "password": PASSWORD}
    )
    assert response.status == 200
    return response.cookies["lm_session"].value, (await response.json())["csrf_token"]


async def _replay(client: Client, cookie: str, token: str) -> tuple[int, int]:
    """Read and renew the stream key with a captured cookie (no cookie jar involved)."""
    headers = {"Cookie": f'lm_session="{cookie}"', "X-CSRF-Token": token}
    saved = client.session.cookie_jar
    client.session._cookie_jar = type(saved)(unsafe=True)
    read = await client.get("/api/v1/me/stream-key", headers=headers)
    renew = await client.post("/api/v1/me/stream-key", headers=headers)
    client.session._cookie_jar = saved
    return read.status, renew.status


async def _stream_key(client: Client) -> str:
    body = await (await client.get("/api/v1/me/stream-key")).json()
    return str(body["stream_key"])


async def test_logout_revokes_the_cookie(client: Client, make_user: UserMaker) -> None:
    """The cookie captured before logout reads and renews nothing afterwards."""
    await make_user("host", "alice")
    cookie, token = await _login(client, "alice")
    assert await _replay(client, cookie, token) == (200, 200)
    await _login(client, "alice")
    before = await _stream_key(client)
    _cookie, current = await _login(client, "alice")
    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": current})
    assert response.status == 204
    assert await _replay(client, cookie, token) == (401, 401)
    assert await _replay(client, _cookie, current) == (401, 401)
    await _login(client, "alice")  # a fresh login works, and the key did not change
    assert await _stream_key(client) == before


@pytest.mark.parametrize("command", ["set-password", "disable-user"])
async def test_new_password_and_disabling_revoke(
    client: Client,
    make_user: UserMaker,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    app: Any,
) -> None:
    """After ``set-password`` or ``disable-user`` (another process) the old cookie fails."""
    await make_user("host", "alice")
    cookie, token = await _login(client, "alice")
    assert await _replay(client, cookie, token) == (200, 200)
    url = str(app[SESSIONS_KEY].kw["bind"].url)
    monkeypatch.setenv("LIVEMARKET_DATABASE_URL", url)
    monkeypatch.setenv("LIVEMARKET_DATA_DIR", str(tmp_path))
    args = [command, "--username", "alice"]
    if command == "set-password":
        args += ["--password", "a new passphrase"]
    assert await asyncio.to_thread(main, args) == 0
    await asyncio.sleep(revocation.TTL_S + 0.5)  # a change behind the bus: seen within TTL_S
    assert await _replay(client, cookie, token) == (401, 401)
    client.session.cookie_jar.clear()
    response = await client.post(
        "/api/v1/session", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status == 401  # the old password (set-password) or a disabled account


@pytest.mark.redis
async def test_logout_on_one_instance_revokes_on_another(start_instance: StartInstance) -> None:
    """Logging out on instance one ends the session on instance two within a moment."""
    from livemarket.accounts.service import create_user

    one = await start_instance()
    two = await start_instance()
    await create_user(one.app[SESSIONS_KEY], username="alice", password=PASSWORD, role="host")
    cookie, token = await _login(one.client, "alice")
    assert await _replay(two.client, cookie, token) == (200, 200)  # two now caches it
    response = await one.client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    assert response.status == 204
    for _ in range(30):  # well inside TTL_S: the bus, not the cache's expiry, does this
        if await _replay(two.client, cookie, token) == (401, 401):
            break
        await asyncio.sleep(0.1)
    assert await _replay(two.client, cookie, token) == (401, 401)
