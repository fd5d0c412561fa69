"""The composition root: services start in their documented order and stop in reverse,
and a part's own service runs inside all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from livemarket.config import Settings
from livemarket.web import services
from livemarket.web.app import create_app
from livemarket.web.services import Service
from livemarket.web.typedefs import (
    BUS_KEY,
    CALENDAR_KEY,
    CHECKOUT_KEY,
    ENGINE_KEY,
    REALTIME_KEY,
    RELAYS_KEY,
    SESSIONS_KEY,
    SIMULCAST_KEY,
)

CORE_KEYS = (
    ENGINE_KEY,
    SESSIONS_KEY,
    BUS_KEY,
    CHECKOUT_KEY,
    CALENDAR_KEY,
    REALTIME_KEY,
    RELAYS_KEY,
    SIMULCAST_KEY,
)


def _logged(service: Service, log: list[str]) -> Service:
    """``service`` itself, noting when it has started and when it has stopped."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        async for _ in service(app):
            log.append(f"up {service.__name__}")
            yield
        log.append(f"down {service.__name__}")

    run.__name__ = service.__name__
    return run


async def test_services_start_in_order_and_a_part_service_runs_inside_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Core services start in ``CORE_SERVICES`` order and stop in reverse; a part's service
    starts after all of them (every core service is there to use) and stops first."""
    log: list[str] = []
    seen: dict[str, Any] = {}

    async def part(app: web.Application) -> AsyncIterator[None]:
        seen["at start"] = [key for key in CORE_KEYS if key not in app]
        yield
        async with app[SESSIONS_KEY]() as db:  # the database is still there on the way down
            seen["at stop"] = (await db.execute(text("SELECT 1"))).scalar()

    core = [_logged(service, log) for service in services.CORE_SERVICES]
    monkeypatch.setattr(services, "CORE_SERVICES", core)
    monkeypatch.setattr(services, "PART_SERVICES", [_logged(part, log)])
    names = [service.__name__ for service in core]

    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        assert (await client.get("/healthz")).status == 200
        assert log == [f"up {name}" for name in names] + ["up part"]

    assert log[len(names) + 1 :] == ["down part"] + [f"down {name}" for name in reversed(names)]
    assert seen == {"at start": [], "at stop": 1}
