"""The calendar's HTTP API on SQLite and PostgreSQL: writes, roles, conflicts, .ics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from icalendar import Calendar
from sqlalchemy import select

from livemarket.checkout.models import FlashDeal, Product
from livemarket.config import Settings
from livemarket.scheduler.models import Platform, SpecialReminder
from livemarket.web.app import create_app
from livemarket.web.typedefs import CLOCK_KEY, SESSIONS_KEY
from tests.conftest import UserMaker, login
from tests.fakes import FakeClock

SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 12, 17, 15, 0, tzinfo=UTC)  # 00:00 on 18 December in Seoul
START = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)  # 19:00 in Seoul
Client = TestClient[Any, Any]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    """Every test here runs once on SQLite and once on PostgreSQL."""
    return make_settings(database_url=database_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> web.Application:
    app = create_app(settings)
    app[CLOCK_KEY] = clock
    return app


@dataclass
class World:
    client: Client
    csrf: str
    hosts: list[int]
    products: list[int]
    platform: int


@pytest.fixture
async def world(client: Client, make_user: UserMaker, app: web.Application) -> World:
    """An operator logged in on ``client``, two hosts, three products and a platform."""
    await make_user("operator", "op")
    hosts = [await make_user("host", f"host{i}", display_name=f"Host {i}") for i in range(2)]
    async with app[SESSIONS_KEY]() as db:
        products = [
            Product(sku=f"P{i}", name=f"상품 {i}", category="food", price=9900, stock=50)
            for i in range(3)
        ]
        platform = Platform(slug="naver", name="Naver", name_ko="네이버")
        db.add_all([*products, platform])
        await db.commit()
    csrf = await login(client, "op")
    return World(client, csrf, [h.id for h in hosts], [p.id for p in products], platform.id)


def body(w: World, start: datetime = START, minutes: int = 60, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "제주 감귤 라이브",
        "description": "Tangerines from Jeju",
        "starts_at": start.astimezone(SEOUL).isoformat(),
        "ends_at": (start + timedelta(minutes=minutes)).astimezone(SEOUL).isoformat(),
        "host_id": w.hosts[0],
        "platform_id": w.platform,
        "channel": "studio-1",
        "product_ids": w.products[:2],
        "deals": [
            {
                "product_id": w.products[0],
                "offset_s": 300,
                "discount_pct": 30,
                "duration_s": 600,
                "quantity": 10,
            }
        ],
    }
    values.update(kw)
    return values


@pytest.fixture
def another(aiohttp_client: Any, client: Client) -> Callable[[], Any]:
    """A second browser (its own cookie jar) on the same running server."""
    return lambda: aiohttp_client(client.server)


async def create(w: World, **kw: Any) -> dict[str, Any]:
    response = await w.client.post(
        "/api/v1/specials", json=body(w, **kw), headers={"X-CSRF-Token": w.csrf}
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    return dict((await response.json())["error"])


async def test_operator_creates_a_special(world: World) -> None:
    """The created special has the contract's shape, its line-up and deals, and can be read."""
    response = await world.client.post(
        "/api/v1/specials", json=body(world), headers={"X-CSRF-Token": world.csrf}
    )
    assert response.status == 201
    item = await response.json()
    assert response.headers["Location"] == f"/api/v1/specials/{item['id']}"
    assert response.headers["ETag"] == '"1"'
    for key in (
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
    ):
        assert key in item
    assert item["status"] == "scheduled"
    assert datetime.fromisoformat(item["starts_at"]) == START
    assert item["product_ids"] == world.products[:2]
    assert item["deals"][0]["discount_pct"] == 30
    got = await world.client.get(f"/api/v1/specials/{item['id']}")
    assert (await got.json())["title"] == "제주 감귤 라이브"
    listed = await world.client.get("/api/v1/specials", params={"day": "2026-12-18"})
    assert [s["id"] for s in (await listed.json())["items"]] == [item["id"]]
    other_day = await world.client.get("/api/v1/specials", params={"day": "2026-12-19"})
    assert (await other_day.json())["items"] == []


async def test_list_filters_and_order(world: World) -> None:
    """The list is ordered by start and filters by host, status and platform."""
    late = await create(world, start=START + timedelta(hours=3))
    early = await create(
        world, start=START, host_id=world.hosts[1], channel="studio-2", platform_id=None
    )
    listed = await (await world.client.get("/api/v1/specials")).json()
    assert [s["id"] for s in listed["items"]] == [early["id"], late["id"]]
    by_host = await (
        await world.client.get("/api/v1/specials", params={"host_id": str(world.hosts[1])})
    ).json()
    assert [s["id"] for s in by_host["items"]] == [early["id"]]
    by_platform = await (
        await world.client.get("/api/v1/specials", params={"platform_id": str(world.platform)})
    ).json()
    assert [s["id"] for s in by_platform["items"]] == [late["id"]]
    none_live = await (await world.client.get("/api/v1/specials", params={"status": "live"})).json()
    assert none_live["items"] == []


async def test_writes_need_an_operator(world: World, another: Callable[[], Any]) -> None:
    """Anonymous callers get 401, hosts and viewers 403/401, and nothing is written."""
    special = await create(world)
    anonymous = await another()
    response = await anonymous.post("/api/v1/specials", json=body(world))
    assert (await error_of(response, 401))["code"] == "unauthenticated"
    response = await anonymous.delete(f"/api/v1/specials/{special['id']}")
    await error_of(response, 401)
    host = await another()
    csrf = await login(host, "host0")
    response = await host.post(
        "/api/v1/specials",
        json=body(world, start=START + timedelta(hours=5)),
        headers={"X-CSRF-Token": csrf},
    )
    assert (await error_of(response, 403))["code"] == "forbidden"
    response = await host.patch(
        f"/api/v1/specials/{special['id']}", json={"title": "Mine"}, headers={"X-CSRF-Token": csrf}
    )
    await error_of(response, 403)
    listed = await (await world.client.get("/api/v1/specials")).json()
    assert [s["title"] for s in listed["items"]] == ["제주 감귤 라이브"]


async def test_csrf_token_is_required(world: World) -> None:
    """A cookie-authenticated write without the CSRF token is refused."""
    response = await world.client.post("/api/v1/specials", json=body(world))
    assert (await error_of(response, 403))["code"] == "csrf_failed"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"minutes": 5}, 422, "too_short"),
        ({"minutes": 300}, 422, "too_long"),
        ({"minutes": -30}, 422, "ends_before_start"),
        ({"title": ""}, 422, "title_required"),
        ({"start": T0 - timedelta(hours=1)}, 422, "starts_in_past"),
        (
            {
                "deals": [
                    {
                        "product_id": 999,
                        "offset_s": 0,
                        "discount_pct": 20,
                        "duration_s": 60,
                        "quantity": 1,
                    }
                ]
            },
            422,
            "deal_product_not_in_line_up",
        ),
        ({"host_id": 999999}, 422, "host_not_found"),
        ({"product_ids": [999999], "deals": []}, 422, "product_not_found"),
        ({"starts_at": "2026-12-18T19:00:00"}, 422, "invalid_field"),
        ({"status": "live"}, 422, "invalid_field"),
    ],
)
async def test_invalid_specials_are_refused(
    world: World, changes: dict[str, Any], status: int, code: str
) -> None:
    """Each broken rule is refused with its code, and nothing is created."""
    kw = dict(changes)
    payload = body(world, **{k: v for k, v in kw.items() if k in ("start", "minutes")})
    payload.update({k: v for k, v in kw.items() if k not in ("start", "minutes")})
    response = await world.client.post(
        "/api/v1/specials", json=payload, headers={"X-CSRF-Token": world.csrf}
    )
    assert (await error_of(response, status))["code"] == code
    assert (await (await world.client.get("/api/v1/specials")).json())["items"] == []


async def test_discount_cap_is_enforced(world: World) -> None:
    """A planned deal above the cap gets discount_over_cap and names the field."""
    deals = [
        {
            "product_id": world.products[0],
            "offset_s": 0,
            "discount_pct": 51,
            "duration_s": 60,
            "quantity": 1,
        }
    ]
    response = await world.client.post(
        "/api/v1/specials", json=body(world, deals=deals), headers={"X-CSRF-Token": world.csrf}
    )
    error = await error_of(response, 422)
    assert error["code"] == "discount_over_cap"
    assert error["field"] == "deals"


async def test_overlaps_are_refused(world: World) -> None:
    """Same host or same channel at an overlapping time: 409 with the clash's code."""
    first = await create(world)
    response = await world.client.post(
        "/api/v1/specials",
        json=body(world, start=START + timedelta(minutes=30), channel="studio-2"),
        headers={"X-CSRF-Token": world.csrf},
    )
    error = await error_of(response, 409)
    assert error["code"] == "host_overlap"
    assert error["other_id"] == first["id"]
    response = await world.client.post(
        "/api/v1/specials",
        json=body(world, start=START + timedelta(minutes=30), host_id=world.hosts[1]),
        headers={"X-CSRF-Token": world.csrf},
    )
    assert (await error_of(response, 409))["code"] == "channel_overlap"
    await create(world, start=START + timedelta(minutes=60))  # back to back is fine


async def test_simultaneous_creates_cannot_both_take_a_slot(world: World) -> None:
    """Two operators racing for one channel slot: one wins, the other gets a clash."""
    responses = await asyncio.gather(
        *(
            world.client.post(
                "/api/v1/specials",
                json=body(world, host_id=world.hosts[i], title=f"Race {i}"),
                headers={"X-CSRF-Token": world.csrf},
            )
            for i in range(2)
        )
    )
    assert sorted(r.status for r in responses) == [201, 409]
    listed = await (await world.client.get("/api/v1/specials")).json()
    assert len(listed["items"]) == 1


async def test_patch_moves_and_edits(world: World) -> None:
    """A partial PATCH moves a special, bumps its version and keeps untouched fields."""
    special = await create(world)
    later = START + timedelta(hours=2)
    response = await world.client.patch(
        f"/api/v1/specials/{special['id']}",
        json={
            "starts_at": later.isoformat(),
            "ends_at": (later + timedelta(hours=1)).isoformat(),
            "product_ids": [world.products[0], world.products[2]],
            "version": 1,
        },
        headers={"X-CSRF-Token": world.csrf},
    )
    assert response.status == 200, await response.text()
    moved = await response.json()
    assert datetime.fromisoformat(moved["starts_at"]) == later
    assert moved["version"] == 2
    assert moved["title"] == special["title"]
    assert moved["product_ids"] == [world.products[0], world.products[2]]
    assert response.headers["ETag"] == '"2"'
    response = await world.client.patch(
        f"/api/v1/specials/{special['id']}",
        json={"platform_id": None, "title": "  New  "},
        headers={"X-CSRF-Token": world.csrf},
    )
    edited = await response.json()
    assert edited["platform_id"] is None and edited["title"] == "New"


async def test_stale_versions_do_not_lose_updates(world: World) -> None:
    """A write based on an old version is refused (412 with If-Match, 409 with version)."""
    special = await create(world)
    url = f"/api/v1/specials/{special['id']}"
    first = await world.client.patch(
        url, json={"title": "Alice's edit"}, headers={"X-CSRF-Token": world.csrf, "If-Match": '"1"'}
    )
    assert first.status == 200
    stale = await world.client.patch(
        url, json={"title": "Bob's edit"}, headers={"X-CSRF-Token": world.csrf, "If-Match": '"1"'}
    )
    error = await error_of(stale, 412)
    assert error["code"] == "precondition_failed"
    assert error["version"] == 2
    stale_body = await world.client.patch(
        url, json={"title": "Bob's edit", "version": 1}, headers={"X-CSRF-Token": world.csrf}
    )
    assert (await error_of(stale_body, 409))["code"] == "version_conflict"
    stale_delete = await world.client.delete(
        url, headers={"X-CSRF-Token": world.csrf, "If-Match": '"1"'}
    )
    await error_of(stale_delete, 412)
    assert (await (await world.client.get(url)).json())["title"] == "Alice's edit"


async def test_move_into_an_overlap_is_refused(world: World) -> None:
    """Moving onto another special's channel slot gives channel_overlap and changes nothing."""
    first = await create(world)
    second = await create(world, start=START + timedelta(hours=2), host_id=world.hosts[1])
    response = await world.client.patch(
        f"/api/v1/specials/{second['id']}",
        json={
            "starts_at": (START + timedelta(minutes=30)).isoformat(),
            "ends_at": (START + timedelta(minutes=90)).isoformat(),
        },
        headers={"X-CSRF-Token": world.csrf},
    )
    error = await error_of(response, 409)
    assert error["code"] == "channel_overlap"
    assert error["other_id"] == first["id"]
    unchanged = await (await world.client.get(f"/api/v1/specials/{second['id']}")).json()
    assert unchanged["version"] == 1


async def test_cancel_and_delete(world: World) -> None:
    """Cancel keeps the special marked cancelled; delete removes one that never aired."""
    special = await create(world)
    url = f"/api/v1/specials/{special['id']}"
    response = await world.client.patch(
        url, json={"status": "cancelled"}, headers={"X-CSRF-Token": world.csrf}
    )
    assert (await response.json())["status"] == "cancelled"
    again = await world.client.patch(
        url, json={"status": "cancelled"}, headers={"X-CSRF-Token": world.csrf}
    )
    assert (await error_of(again, 409))["code"] == "invalid_transition"
    edit = await world.client.patch(
        url, json={"title": "Back"}, headers={"X-CSRF-Token": world.csrf}
    )
    assert (await error_of(edit, 409))["code"] == "not_editable"
    # The cancelled special frees its slot.
    await create(world)
    response = await world.client.delete(url, headers={"X-CSRF-Token": world.csrf})
    assert response.status == 204
    assert (await world.client.get(url)).status == 404
    missing = await world.client.delete(url, headers={"X-CSRF-Token": world.csrf})
    await error_of(missing, 404)


async def test_started_special_cannot_be_deleted(
    world: World, clock: FakeClock, another: Callable[[], Any]
) -> None:
    """Once live it can only be cancelled; the host goes live early and ends early."""
    special = await create(world)
    url = f"/api/v1/specials/{special['id']}"
    host = await another()
    csrf = await login(host, "host0")
    other = await another()
    other_csrf = await login(other, "host1")
    clock.now = START - timedelta(minutes=16)
    early = await host.post(url + "/go-live", headers={"X-CSRF-Token": csrf})
    assert (await error_of(early, 409))["code"] == "too_early"
    clock.now = START - timedelta(minutes=15)
    stranger = await other.post(url + "/go-live", headers={"X-CSRF-Token": other_csrf})
    assert (await error_of(stranger, 403))["code"] == "not_your_special"
    live = await host.post(url + "/go-live", headers={"X-CSRF-Token": csrf})
    assert live.status == 200, await live.text()
    item = await live.json()
    assert item["status"] == "live"
    assert datetime.fromisoformat(item["went_live_at"]) == START - timedelta(minutes=15)
    response = await world.client.delete(url, headers={"X-CSRF-Token": world.csrf})
    assert (await error_of(response, 409))["code"] == "cannot_delete_started"
    moved = await world.client.patch(
        url,
        json={"starts_at": (START + timedelta(hours=5)).isoformat()},
        headers={"X-CSRF-Token": world.csrf},
    )
    assert (await error_of(moved, 409))["code"] == "not_editable"
    clock.now = START + timedelta(minutes=20)
    ended = await host.post(url + "/end", headers={"X-CSRF-Token": csrf})
    assert (await ended.json())["status"] == "ended"
    again = await host.post(url + "/end", headers={"X-CSRF-Token": csrf})
    assert (await error_of(again, 409))["code"] == "not_live"


async def test_reminders_need_a_session(world: World, another: Callable[[], Any]) -> None:
    """A viewer with a session can ask for a reminder; without one the answer is 401."""
    special = await create(world)
    url = f"/api/v1/specials/{special['id']}/reminders"
    viewer = await another()
    assert (await viewer.post(url)).status == 401
    session = await (await viewer.get("/api/v1/session")).json()
    response = await viewer.post(url, headers={"X-CSRF-Token": session["csrf_token"]})
    assert response.status == 200
    assert (await response.json())["reminder"] is True
    response = await viewer.delete(url, headers={"X-CSRF-Token": session["csrf_token"]})
    assert (await response.json())["reminder"] is False
    missing = await viewer.post(
        "/api/v1/specials/999999/reminders", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    await error_of(missing, 404)


async def test_reminder_flood_is_refused_and_changes_nothing(
    world: World, another: Callable[[], Any], app: web.Application
) -> None:
    """Past 30 reminder changes a minute a viewer gets 429 with Retry-After; nothing is written."""
    special = await create(world)
    url = f"/api/v1/specials/{special['id']}/reminders"
    viewer = await another()
    session = await (await viewer.get("/api/v1/session")).json()
    headers = {"X-CSRF-Token": session["csrf_token"]}
    for turn in range(30):
        call = viewer.post if turn % 2 == 0 else viewer.delete
        assert (await call(url, headers=headers)).status == 200
    refused = await viewer.post(url, headers=headers)
    assert (await error_of(refused, 429))["code"] == "too_many_reminders"
    assert int(refused.headers["Retry-After"]) >= 1
    async with app[SESSIONS_KEY]() as db:
        rows = await db.scalars(
            select(SpecialReminder).where(SpecialReminder.special_id == special["id"])
        )
        assert rows.all() == []


async def test_ics_exports(world: World, another: Callable[[], Any]) -> None:
    """The season and per-special .ics parse, carry Seoul times, and need no login."""
    special = await create(world)
    await create(world, start=START + timedelta(hours=3), title="Second")
    public = await another()
    response = await public.get("/api/v1/specials.ics")
    assert response.status == 200
    assert response.content_type == "text/calendar"
    season = Calendar.from_ical(await response.read())
    events = season.walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["제주 감귤 라이브", "Second"]
    response = await public.get(f"/api/v1/specials/{special['id']}.ics")
    assert response.status == 200
    (event,) = Calendar.from_ical(await response.read()).walk("VEVENT")
    assert event.decoded("dtstart") == START
    assert event["dtstart"].params["TZID"] == "Asia/Seoul"
    assert str(event["url"]).endswith(f"/specials/{special['id']}")
    assert (await public.get("/api/v1/specials/999999.ics")).status == 404


async def test_openapi_documents_the_writes(world: World) -> None:
    """The OpenAPI document lists the calendar's write operations."""
    document = await (await world.client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    assert "post" in paths["/api/v1/specials"]
    item = next(
        v for k, v in paths.items() if k.startswith("/api/v1/specials/{special_id") and "patch" in v
    )
    assert "delete" in item


async def test_console_is_for_operators(world: World, another: Callable[[], Any]) -> None:
    """/console sends anonymous visitors to log in, refuses hosts, and serves operators."""
    anonymous = await another()
    response = await anonymous.get("/console", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/console"
    host = await another()
    await login(host, "host0")
    assert (await host.get("/console")).status == 403
    page = await world.client.get("/console", params={"from": "2026-12-18"})
    assert page.status == 200
    html = await page.text()
    assert 'id="lm-console-week"' in html
    assert '"from": "2026-12-18"' in html
    assert "Host 1" in html  # the host choices are in the form


async def test_empty_patch_changes_nothing(world: World) -> None:
    """A PATCH with no fields returns the special as it is, without a new version."""
    special = await create(world)
    response = await world.client.patch(
        f"/api/v1/specials/{special['id']}",
        json={},
        headers={"X-CSRF-Token": world.csrf, "If-Match": "*"},
    )
    assert response.status == 200
    assert (await response.json())["version"] == 1
    bad = await world.client.patch(
        f"/api/v1/specials/{special['id']}",
        json={"title": None},
        headers={"X-CSRF-Token": world.csrf},
    )
    assert (await error_of(bad, 422))["code"] == "invalid_field"
    garbled = await world.client.patch(
        f"/api/v1/specials/{special['id']}",
        json={},
        headers={"X-CSRF-Token": world.csrf, "If-Match": "v1"},
    )
    assert (await error_of(garbled, 400))["code"] == "bad_if_match"


async def test_special_with_deals_cannot_be_deleted(world: World, app: web.Application) -> None:
    """A special that flash deals refer to is kept (cancel it instead), not half-deleted."""
    special = await create(world)
    async with app[SESSIONS_KEY]() as db:
        db.add(
            FlashDeal(
                special_id=special["id"],
                product_id=world.products[0],
                discount_pct=10,
                original_price=9900,
                price=8910,
                starts_at=START,
                ends_at=START + timedelta(minutes=5),
                quantity=3,
            )
        )
        await db.commit()
    url = f"/api/v1/specials/{special['id']}"
    response = await world.client.delete(url, headers={"X-CSRF-Token": world.csrf})
    assert (await error_of(response, 409))["code"] == "special_in_use"
    assert (await world.client.get(url)).status == 200
