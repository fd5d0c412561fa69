"""The session API: login, logout, wrong passwords, CSRF, viewer nicknames, stream keys."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import PASSWORD, UserMaker, login

Client = TestClient[Any, Any]


async def test_login_sets_an_httponly_cookie_and_returns_user_and_token(
    client: Client, make_user: UserMaker
) -> None:
    """A correct password logs in: the cookie is HttpOnly and SameSite, and GET tells who."""
    await make_user("host", "alice", display_name="앨리스")
    response = await client.post(
        "/api/v1/session", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["user"]["username"] == "alice" and body["user"]["role"] == "host"
    assert len(body["csrf_token"]) >= 20
    cookie = response.cookies["lm_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    whoami = await (await client.get("/api/v1/session")).json()
    assert whoami["user"]["id"] == body["user"]["id"]
    assert whoami["user"]["role"] == "host"


async def test_wrong_password_and_unknown_user_get_the_same_401(
    client: Client, make_user: UserMaker
) -> None:
    """Wrong password and unknown user both answer 401 invalid_credentials, logging nobody in."""
    await make_user("operator", "olivia")
    for username, password in (("olivia", "wrong password"), ("nobody", PASSWORD)):
        response = await client.post(
            "/api/v1/session", json={"username": username, "password": password}
        )
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_credentials"
    whoami = await (await client.get("/api/v1/session")).json()
    assert whoami["user"] is None


async def test_logout_drops_the_session(client: Client, make_user: UserMaker) -> None:
    """After DELETE the host's routes answer 401 again."""
    await make_user("host", "alice")
    token = await login(client, "alice")
    assert (await client.get("/api/v1/me/stream-key")).status == 200
    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    assert response.status == 204
    assert (await client.get("/api/v1/me/stream-key")).status == 401


async def test_state_change_without_csrf_token_is_refused(
    client: Client, make_user: UserMaker
) -> None:
    """With the cookie, a POST lacking the right X-CSRF-Token is 403 and changes nothing."""
    await make_user("host", "alice")
    token = await login(client, "alice")
    key = (await (await client.get("/api/v1/me/stream-key")).json())["stream_key"]
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = await client.post("/api/v1/me/stream-key", headers=headers)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "csrf_failed"
    assert (await (await client.get("/api/v1/me/stream-key")).json())["stream_key"] == key
    renewed = await client.post("/api/v1/me/stream-key", headers={"X-CSRF-Token": token})
    assert renewed.status == 200
    assert (await renewed.json())["stream_key"] != key


async def test_login_replaces_the_anonymous_session_and_its_token(
    client: Client, make_user: UserMaker
) -> None:
    """Logging in issues a new CSRF token; the anonymous one no longer works (no fixation)."""
    await make_user("host", "alice")
    anonymous = await (await client.get("/api/v1/session")).json()
    response = await client.post(
        "/api/v1/session",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-CSRF-Token": anonymous["csrf_token"]},
    )
    assert response.status == 200
    token = (await response.json())["csrf_token"]
    assert token != anonymous["csrf_token"]
    stale = await client.post(
        "/api/v1/me/stream-key", headers={"X-CSRF-Token": anonymous["csrf_token"]}
    )
    assert stale.status == 403


async def test_viewer_gets_an_anonymous_session_and_can_set_a_nickname(client: Client) -> None:
    """A viewer's session has a viewer key and a default nickname; PATCH renames, validated."""
    first = await (await client.get("/api/v1/session")).json()
    assert first["user"] is None and first["viewer"]["key"].startswith("v:")
    token = first["csrf_token"]
    renamed = await client.patch(
        "/api/v1/session", json={"nickname": "산타 팬"}, headers={"X-CSRF-Token": token}
    )
    assert renamed.status == 200
    assert (await renamed.json())["viewer"]["nickname"] == "산타 팬"
    again = await (await client.get("/api/v1/session")).json()
    assert again["viewer"]["key"] == first["viewer"]["key"]
    assert again["viewer"]["nickname"] == "산타 팬"


async def test_script_nickname_is_refused_and_nothing_changes(client: Client) -> None:
    """A nickname with markup gets a clear 422 and the old nickname stays."""
    session = await (await client.get("/api/v1/session")).json()
    response = await client.patch(
        "/api/v1/session",
        json={"nickname": "<script>alert(1)</script>"},
        headers={"X-CSRF-Token": session["csrf_token"]},
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "nickname_characters"
    after = await (await client.get("/api/v1/session")).json()
    assert after["viewer"]["nickname"] == session["viewer"]["nickname"]


async def test_malformed_login_bodies_get_clear_errors(client: Client) -> None:
    """Bad JSON is 400, a wrong content type 415, a missing field 422 naming the field."""
    bad_json = await client.post(
        "/api/v1/session", data="{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert (await bad_json.json())["error"]["code"] == "malformed_json"
    form = await client.post("/api/v1/session", data={"username": "x"})
    assert form.status == 415
    missing = await client.post("/api/v1/session", json={"username": "x"})
    assert missing.status == 422
    assert (await missing.json())["error"]["field"] == "password"


async def test_host_stream_key_is_stable_until_renewed(
    client: Client, make_user: UserMaker
) -> None:
    """GET returns the same key each time; POST renews it and the new one is returned after."""
    await make_user("host", "alice")
    token = await login(client, "alice")
    first = (await (await client.get("/api/v1/me/stream-key")).json())["stream_key"]
    assert first == (await (await client.get("/api/v1/me/stream-key")).json())["stream_key"]
    renewed = await client.post("/api/v1/me/stream-key", headers={"X-CSRF-Token": token})
    new_key = (await renewed.json())["stream_key"]
    assert new_key != first
    assert (await (await client.get("/api/v1/me/stream-key")).json())["stream_key"] == new_key


async def test_repeated_failed_logins_are_throttled(client: Client, make_user: UserMaker) -> None:
    """After five wrong passwords even the right one waits (429 with Retry-After)."""
    await make_user("operator", "olivia")
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/session", json={"username": "olivia", "password": "guess-guess"}
        )
        assert wrong.status == 401
    blocked = await client.post(
        "/api/v1/session", json={"username": "olivia", "password": PASSWORD}
    )
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert (await (await client.get("/api/v1/session")).json())["user"] is None


async def test_remembered_cookie_never_vouches_for_another(
    client: Client, make_user: UserMaker
) -> None:
    """Reusing decrypted cookies keeps each cookie's own identity; a forged one is nobody."""
    await make_user("host", "alice")
    await login(client, "alice")
    cookie = next(c.value for c in client.session.cookie_jar if c.key == "lm_session")
    for _ in range(2):  # the second answer comes from the remembered cookie
        whoami = await (await client.get("/api/v1/session")).json()
        assert whoami["user"]["role"] == "host"
    client.session.cookie_jar.clear()
    forged = cookie[:-8] + ("AAAAAAAA" if not cookie.endswith("AAAAAAAA") else "BBBBBBBB")
    response = await client.get("/api/v1/session", headers={"Cookie": f"lm_session={forged}"})
    assert (await response.json())["user"] is None
    client.session.cookie_jar.clear()
    response = await client.get("/api/v1/session", headers={"Cookie": f"lm_session={cookie}"})
    assert (await response.json())["user"]["role"] == "host"
