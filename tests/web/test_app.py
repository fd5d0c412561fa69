"""The app as a whole: health, errors, OpenAPI, metrics, read API, and a clean start and stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from livemarket.accounts.models import User
from livemarket.checkout.models import Product
from livemarket.config import Settings
from livemarket.scheduler.models import Special, SpecialProduct
from livemarket.web.api import OPERATIONS_KEY
from livemarket.web.app import create_app
from livemarket.web.typedefs import SESSIONS_KEY

Client = TestClient[Any, Any]


async def _seed_catalog(app: web.Application, products: int, specials: int) -> None:
    start = datetime(2021, 12, 18, 1, 0, tzinfo=UTC)
    async with app[SESSIONS_KEY].begin() as db:
        host = User(username="h", display_name="h", role="host", password_hash="x")
        db.add(host)
        db.add_all(
            Product(sku=f"S{i}", name=f"상품 {i}", category="food", price=1000 + i, stock=i)
            for i in range(products)
        )
        await db.flush()
        # Inserted in reverse start order: the API must sort by start, not by id.
        for i in reversed(range(specials)):
            special = Special(
                title=f"특집 {i}",
                starts_at=start + timedelta(hours=2 * i),
                ends_at=start + timedelta(hours=2 * i + 1),
                host_id=host.id,
            )
            db.add(special)
            await db.flush()
            db.add(SpecialProduct(special_id=special.id, product_id=1 + i % products, position=0))


async def test_healthz_reports_database_and_redis(client: Client) -> None:
    """Liveness says the database answers, Redis is not in use in the embedded mode, and
    every background loop runs."""
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    tasks = body.pop("tasks")
    assert body == {"status": "ok", "database": "ok", "redis": "disabled", "instance": None}
    assert {"chat-writer", "realtime-timers", "realtime-heartbeat", "checkout-sweeper"} <= set(
        tasks
    )
    assert tasks["chat-writer"] == {
        "state": "running",
        "failures": 0,
        "failures_total": 0,
        "last_error": None,
        "backlog": 0,
        "overflow": 0,
    }
    text = await (await client.get("/metrics")).text()
    assert 'livemarket_task_up{task="chat-writer"} 1.0' in text
    assert 'livemarket_task_overflow_total{task="chat-writer"} 0.0' in text


async def test_unknown_api_path_is_a_json_404(client: Client) -> None:
    """Errors under /api come in the contract's shape."""
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    missing = await client.get("/api/v1/products/999")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "product_not_found"


async def test_lists_page_with_limit_and_next(client: Client) -> None:
    """``limit`` caps a page, ``next`` fetches the rest, and nothing is repeated or lost."""
    await _seed_catalog(client.app, products=7, specials=3)
    first = await (await client.get("/api/v1/products", params={"limit": "5"})).json()
    assert [p["id"] for p in first["items"]] == [1, 2, 3, 4, 5]
    assert set(first["items"][0]) >= {"id", "name", "category", "price", "stock"}
    rest = await (
        await client.get("/api/v1/products", params={"limit": "5", "cursor": first["next"]})
    ).json()
    assert [p["id"] for p in rest["items"]] == [6, 7] and rest["next"] is None
    too_many = await client.get("/api/v1/products", params={"limit": "1001"})
    assert too_many.status == 422
    assert (await too_many.json())["error"]["field"] == "limit"


async def test_specials_come_ordered_by_start_in_the_contract_shape(client: Client) -> None:
    """Specials are listed by start time with offsets, line-ups and versions."""
    await _seed_catalog(client.app, products=3, specials=3)
    body = await (await client.get("/api/v1/specials")).json()
    starts = [item["starts_at"] for item in body["items"]]
    assert starts == sorted(starts) and len(starts) == 3
    item = body["items"][0]
    assert set(item) >= {
        "id",
        "title",
        "description",
        "starts_at",
        "ends_at",
        "status",
        "host_id",
        "platform_id",
        "channel",
        "product_ids",
        "version",
    }
    assert item["starts_at"].endswith("+00:00") and item["product_ids"] == [1]
    one = await client.get(f"/api/v1/specials/{item['id']}")
    assert (await one.json())["title"] == item["title"]
    by_day = await (await client.get("/api/v1/specials", params={"day": "2021-12-18"})).json()
    assert len(by_day["items"]) == 3  # 10:00–14:00 Seoul on the 18th


async def test_openapi_document_matches_the_routes(client: Client) -> None:
    """Every /api/v1 and /hls/ route in the router is documented, and every documented one
    exists (the /hls/ catch-all answering JSON 404/405 is not an operation)."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith(("/api/v1", "/hls/")) and route.method not in ("HEAD", "*"):
            routed.add((route.method, path))
    assert routed == documented
    declared = {(op.method, op.path) for op in client.app[OPERATIONS_KEY]}
    assert len(declared) == len(client.app[OPERATIONS_KEY])  # no route declared twice


async def test_metrics_are_prometheus_text(client: Client) -> None:
    """/metrics serves request counts and latency by route template and status."""
    await client.get("/api/v1/products")
    await client.get("/api/v1/products/999999")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    route = 'route="/api/v1/products/{product_id}"'
    products = 'method="GET",route="/api/v1/products"'
    assert f'livemarket_http_requests_total{{{products},status="200"}} 1.0' in text
    assert f'livemarket_http_requests_total{{method="GET",{route},status="404"}} 1.0' in text
    assert f'livemarket_http_request_seconds_count{{method="GET",{route}}} 1.0' in text


async def test_app_starts_and_stops_leaving_no_tasks(settings: Settings) -> None:
    """Start-up and shutdown are paired: after cleanup no task the app started is left."""
    before = asyncio.all_tasks()
    server = TestServer(create_app(settings), host="127.0.0.1")
    async with TestClient(server) as client:
        assert (await client.get("/healthz")).status == 200
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover == set(), leftover


async def test_access_log_line_only_at_info_while_figures_always_count(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """One JSON access line per request at INFO; at WARNING none, but /metrics still counts."""
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.get("/healthz")
    lines = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert [r.fields["path"] for r in lines] == ["/healthz"]  # type: ignore[attr-defined]
    assert lines[0].fields["status"] == 200  # type: ignore[attr-defined]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aiohttp.access"):
        await client.get("/healthz")
    assert [r for r in caplog.records if r.name == "aiohttp.access"] == []
    text = await (await client.get("/metrics")).text()
    assert 'livemarket_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
