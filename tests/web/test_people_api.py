"""Operators manage accounts: create hosts, reset passwords, rotate keys, disable, over HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import UserMaker
from tests.web.test_session_revocation import _login, _replay

Client = TestClient[Any, Any]


async def _operator(client: Client, make_user: UserMaker) -> dict[str, str]:
    await make_user("operator", "op")
    _cookie, token = await _login(client, "op")
    return {"X-CSRF-Token": token}


async def test_an_operator_creates_a_host_who_can_log_in_with_the_given_password(
    client: Client, make_user: UserMaker
) -> None:
    """The answer carries a generated password once; the host logs in with it; the list
    shows the host but never a hash or a key; a taken username is 409."""
    headers = await _operator(client, make_user)
    made = await client.post(
        "/api/v1/users", json={"username": "minji", "display_name": "Minji Kim"}, headers=headers
    )
    assert made.status == 201, await made.text()
    host = await made.json()
    assert host["role"] == "host" and len(host["password"]) >= 16
    client.session.cookie_jar.clear()
    login = await client.post(
        "/api/v1/session", json={"username": "minji", "password": host["password"]}
    )
    assert login.status == 200
    _cookie, token = await _login(client, "op")
    listed = await (await client.get("/api/v1/users")).json()
    (row,) = [u for u in listed["items"] if u["username"] == "minji"]
    assert set(row) == {"id", "username", "display_name", "role", "disabled", "created_at"}
    again = await client.post(
        "/api/v1/users",
        json={"username": "minji", "display_name": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert again.status == 409


async def test_reset_password_and_disable_end_the_hosts_sessions(
    client: Client, make_user: UserMaker
) -> None:
    """A host's old cookie stops working after an operator resets the password, and again
    after disabling; a disabled host has no stream key; enabling lets them back in."""
    host = await make_user("host", "joon")
    cookie, token = await _login(client, "joon")
    assert await _replay(client, cookie, token) == (200, 200)
    await make_user("operator", "op")
    _c, op_token = await _login(client, "op")
    headers = {"X-CSRF-Token": op_token}
    reset = await client.post(f"/api/v1/users/{host.id}/password", headers=headers)
    assert reset.status == 200
    assert (await _replay(client, cookie, token))[0] in (401, 403)
    client.session.cookie_jar.clear()
    relog = await client.post(
        "/api/v1/session", json={"username": "joon", "password": (await reset.json())["password"]}
    )
    assert relog.status == 200
    cookie, token = relog.cookies["lm_session"].value, (await relog.json())["csrf_token"]
    _c, op_token = await _login(client, "op")
    headers = {"X-CSRF-Token": op_token}
    off = await client.patch(f"/api/v1/users/{host.id}", json={"disabled": True}, headers=headers)
    assert (await off.json())["disabled"] is True
    assert (await _replay(client, cookie, token))[0] in (401, 403)
    rotate = await client.post(f"/api/v1/users/{host.id}/stream-key", headers=headers)
    assert rotate.status == 409
    on = await client.patch(f"/api/v1/users/{host.id}", json={"disabled": False}, headers=headers)
    assert (await on.json())["disabled"] is False
    rotated = await client.post(f"/api/v1/users/{host.id}/stream-key", headers=headers)
    assert len((await rotated.json())["stream_key"]) >= 20


async def test_people_are_for_operators_and_an_operator_cannot_lock_themselves_out(
    client: Client, make_user: UserMaker
) -> None:
    """A host gets 403 on every account route; an operator disabling their own account is
    refused (409) and still logged in."""
    op = await make_user("operator", "op")
    await make_user("host", "joon")
    _cookie, token = await _login(client, "joon")
    assert (await client.get("/api/v1/users")).status == 403
    made = await client.post(
        "/api/v1/users",
        json={"username": "x" * 5, "display_name": "X"},
        headers={"X-CSRF-Token": token},
    )
    assert made.status == 403
    _cookie, token = await _login(client, "op")
    self_off = await client.patch(
        f"/api/v1/users/{op.id}", json={"disabled": True}, headers={"X-CSRF-Token": token}
    )
    assert self_off.status == 409
    assert (await self_off.json())["error"]["code"] == "cannot_disable_self"
    assert (await client.get("/api/v1/users")).status == 200
    bad = await client.patch(
        f"/api/v1/users/{op.id}", json={"disabled": "yes"}, headers={"X-CSRF-Token": token}
    )
    assert bad.status == 422
