"""Every API route answers the contract's JSON while PostgreSQL or Redis is down.

One real instance; an operator logged in before the outage (sessions are cookies,
so they outlive it). Then the dependency stops for real and every operation the
OpenAPI document lists is called (path ids set to 1, bodies minimal): each answer
must be JSON (or the operation's own media type when it succeeds), never a 500,
and every 5xx a 503 with a stable code and ``Retry-After``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp

from tests.faults.conftest import StartApps
from tests.faults.drill import login, open_sale
from tests.faults.harness import PostgresCluster, RedisServer

#: Bodies for the operations that need one to get past validation to the dependency.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/session"): {"username": "drillop", "password": "correct horse battery"},
    ("post", "/api/v1/orders"): {
        "items": [{"product_id": 1, "quantity": 1}],
        "buyer": {"name": "김하나", "phone": "010-1234-5678", "address": "서울시 종로구 1"},
    },
}
#: Operations that end the session or stream media (not JSON request/answer pairs).
SKIP = {("delete", "/api/v1/session")}


async def _operations(http: aiohttp.ClientSession, base: str) -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, success media type) for every documented operation."""
    async with http.get(base + "/api/v1/openapi.json") as response:
        document = await response.json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"} or (method, path) in SKIP:
                continue
            media = "application/json"
            for answer in operation.get("responses", {}).values():
                media = next(iter(answer.get("content", {"application/json": 0})), media)
                break
            filled = re.sub(r"\{fmt[^}]*\}", "png", re.sub(r"\{[a-z_]+\}", "1", path))
            found.append((method, filled, media))
    # Logging in again gives a new CSRF token: the session's own operations go last.
    return sorted(found, key=lambda op: op[1] == "/api/v1/session")


async def _sweep(
    http: aiohttp.ClientSession, base: str, csrf: str, operations: list[tuple[str, str, str]]
) -> tuple[dict[str, int], list[str]]:
    """Call every operation once: (answers by ``status code``, answers outside the contract)."""
    seen: dict[str, int] = {}
    bad: list[str] = []
    for method, path, media in operations:
        body = BODIES.get((method, re.sub(r"/1(?=/|$)", "/{id}", path)), BODIES.get((method, path)))
        headers = {"X-CSRF-Token": csrf, "Idempotency-Key": f"outage-{method}-{len(seen)}-key"}
        async with http.request(
            method.upper(), base + path, json=body if method != "get" else None, headers=headers
        ) as response:
            raw = await response.read()
            kind = response.headers.get("Content-Type", "")
            where = f"{method.upper()} {path} -> {response.status} {kind}"
            if response.status < 400 and media not in kind:
                bad.append(f"{where}: expected {media}")
                continue
            if response.status < 400:
                seen[f"{response.status} ok"] = seen.get(f"{response.status} ok", 0) + 1
                continue
            if "application/json" not in kind:
                bad.append(f"{where}: {raw[:60]!r}")
                continue
            code = json.loads(raw).get("error", {}).get("code")
            if not isinstance(code, str):
                bad.append(f"{where}: no error code")
            elif response.status >= 500 and (
                response.status != 503 or not response.headers.get("Retry-After")
            ):
                bad.append(f"{where}: {code}, Retry-After {response.headers.get('Retry-After')}")
            seen[f"{response.status} {code}"] = seen.get(f"{response.status} {code}", 0) + 1
    return seen, bad


async def test_every_route_answers_json_503_while_postgres_is_down(
    fault_apps: StartApps, fault_database: str, fault_postgres: PostgresCluster
) -> None:
    (app,) = await fault_apps(1)
    await open_sale(fault_database, app.url, units=10)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, app.url, "drillop")
        operations = await _operations(http, app.url)
        fault_postgres.stop("fast")
        try:
            seen, bad = await _sweep(http, app.url, csrf, operations)
        finally:
            fault_postgres.start()
    assert not bad, "\n".join(bad)
    assert seen.get("503 database_unavailable", 0) >= 10, seen
    assert len(operations) >= 30


async def test_every_route_answers_json_503_while_redis_is_down(
    fault_apps: StartApps, fault_database: str, fault_redis: RedisServer
) -> None:
    (app,) = await fault_apps(1)
    await open_sale(fault_database, app.url, units=10)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, app.url, "drillop")
        operations = await _operations(http, app.url)
        fault_redis.stop()
        try:
            seen, bad = await _sweep(http, app.url, csrf, operations)
        finally:
            fault_redis.start()
    assert not bad, "\n".join(bad)
    assert seen.get("503 redis_unavailable", 0) >= 1, seen
