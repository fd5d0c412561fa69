"""Role enforcement on a sample of routes: 401 without a session, 403 without the role."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from livemarket.accounts.roles import Access, Principal, Role, allows, can_run_special
from tests.conftest import UserMaker, login

Client = TestClient[Any, Any]


def test_access_levels_on_plain_principals() -> None:
    """Viewers reach viewer routes only; hosts host routes; operators everything."""
    viewer = Principal(Role.VIEWER, "v:1", "시청자")
    host = Principal(Role.HOST, "user:2", "호스트", user_id=2)
    operator = Principal(Role.OPERATOR, "user:3", "운영자", user_id=3)
    assert [allows(a, viewer) for a in Access] == [True, True, False, False]
    assert [allows(a, host) for a in Access] == [True, True, True, False]
    assert [allows(a, operator) for a in Access] == [True, True, True, True]


def test_only_the_specials_own_host_or_an_operator_runs_it() -> None:
    """A host runs their own special, not another host's; an operator runs any."""
    host = Principal(Role.HOST, "user:2", "h", user_id=2)
    assert can_run_special(host, host_id=2)
    assert not can_run_special(host, host_id=9)
    assert can_run_special(Principal(Role.OPERATOR, "user:3", "o", user_id=3), host_id=9)
    assert not can_run_special(Principal(Role.VIEWER, "v:1", "v"), host_id=2)


async def test_viewer_calling_a_host_route_gets_403(client: Client) -> None:
    """A viewer (anonymous session) asking for a stream key is refused; none is issued."""
    session = await (await client.get("/api/v1/session")).json()
    response = await client.post(
        "/api/v1/me/stream-key", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


async def test_no_session_at_all_gets_401(client: Client) -> None:
    """Without any session cookie a host route answers 401: identify yourself first."""
    response = await client.get("/api/v1/me/stream-key")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthenticated"


async def test_operator_routes_refuse_hosts_with_403(client: Client, make_user: UserMaker) -> None:
    """Every operator-only API route answers a logged-in host 403 before running."""
    from livemarket.web.api import OPERATIONS_KEY

    await make_user("host", "alice")
    token = await login(client, "alice")
    operator_only = [op for op in client.app[OPERATIONS_KEY] if op.access is Access.OPERATOR]
    for op in operator_only:
        path = re.sub(r"\{[^}]+\}", "1", op.path)  # every path parameter, whatever its name
        response = await client.request(op.method, path, headers={"X-CSRF-Token": token})
        assert response.status == 403, (op.method, op.path, response.status)
