"""The replay over HTTP: markers from a real deal and pin, products at today's price, chat."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select, update

from livemarket.bus import catalogue
from livemarket.bus.events import CALENDAR_TOPIC
from livemarket.chat.models import ChatBan, ChatMessage
from livemarket.checkout.models import FlashDeal, Product
from livemarket.replay.models import ShowMoment
from livemarket.scheduler.models import Special
from livemarket.scheduler.pins import pin_product
from livemarket.web.routes.replay import RECORDINGS_KEY
from livemarket.web.typedefs import BUS_KEY, ENGINE_KEY, SESSIONS_KEY
from tests.web.test_checkout_api import Shop, as_user, buy, shop, start, viewer

__all__ = ["shop"]

SEGMENT_S = 2.0


def vod_playlist(first_frame: datetime, segments: int) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:2", "#EXT-X-PLAYLIST-TYPE:VOD"]
    lines.append('#EXT-X-MAP:URI="r1/init.mp4"')
    for msn in range(segments):
        moment = first_frame + timedelta(seconds=msn * SEGMENT_S)
        lines.append("#EXT-X-PROGRAM-DATE-TIME:" + moment.isoformat(timespec="milliseconds"))
        lines += [f"#EXTINF:{SEGMENT_S:.3f},", f"r1/{msn}.mp4"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


class FakeRecordings:
    """What hls-serve would answer: a playlist per special that was kept."""

    def __init__(self) -> None:
        self.playlists: dict[int, str] = {}
        self.asked: list[int] = []

    async def vod_playlist(self, special_id: int) -> str | None:
        self.asked.append(special_id)
        return self.playlists.get(special_id)


@pytest.fixture
def recordings(app: web.Application) -> FakeRecordings:
    fake = FakeRecordings()
    app[RECORDINGS_KEY] = fake
    return fake


async def _wait_for_pins(app: web.Application, special_id: int, count: int) -> None:
    for _ in range(100):  # bounded: the recorder writes on the loop
        async with app[ENGINE_KEY].connect() as conn:
            found = await conn.scalar(
                select(func.count()).where(ShowMoment.special_id == special_id)
            )
        if found == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} pins not recorded")


async def _pin(app: web.Application, special_id: int, product_id: int) -> None:
    """The host pins, as the gateway does (the recorder must be following: it learns the
    special went live from the calendar's event)."""
    bus = app[BUS_KEY]
    event = catalogue.CalendarChanged(
        type=catalogue.CALENDAR_CHANGED, special_id=special_id, action="status"
    )
    await bus.publish(CALENDAR_TOPIC, event)
    await asyncio.sleep(0.05)
    await pin_product(app[SESSIONS_KEY], bus, special_id, product_id)
    await _wait_for_pins(app, special_id, 1)


async def _end(app: web.Application, special_id: int) -> None:
    now = datetime.now(UTC)
    async with app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            update(Special).where(Special.id == special_id).values(status="ended", ended_at=now)
        )
        await conn.execute(
            update(FlashDeal)
            .where(FlashDeal.special_id == special_id, FlashDeal.ended_at.is_(None))
            .values(ended_at=now, ended_reason="special_ended")
        )


async def _chat(app: web.Application, special_id: int, rows: Iterable[dict[str, Any]]) -> None:
    async with app[ENGINE_KEY].begin() as conn:
        for number, row in enumerate(rows, start=1):
            values = {"id": number, "special_id": special_id, "role": "viewer", **row}
            values.setdefault("author_key", f"viewer-{number}")
            values.setdefault("nickname", f"nick{number}")
            await conn.execute(insert(ChatMessage).values(**values))


async def test_a_replay_marks_the_deal_and_pin_and_sells_at_todays_price(
    recordings: FakeRecordings, client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """Live: pin and a 30% deal; ended: the replay has both markers at their video offsets,
    and the product is offered at its list price with buying open, the deal being over."""
    first_frame = (datetime.now(UTC) - timedelta(seconds=60)).replace(microsecond=0)
    url = f"/api/v1/specials/{shop.special_id}/replay"
    await _pin(app, shop.special_id, shop.product_id)
    started = await start(client, await as_user(client, "host"), shop)
    assert started.status == 201, await started.text()
    deal = await started.json()
    refused = await client.get(url)  # still live: no replay yet
    assert refused.status == 404
    assert (await refused.json())["error"]["code"] == "replay_unavailable"

    await _end(app, shop.special_id)
    recordings.playlists[shop.special_id] = vod_playlist(first_frame, 100)
    response = await client.get(url)
    assert response.status == 200, await response.text()
    replay = await response.json()
    assert replay["playlist_url"] == f"/hls/{shop.special_id}/replay.m3u8"
    assert datetime.fromisoformat(replay["started_at"]) == first_frame
    assert replay["duration_s"] == pytest.approx(200.0)
    kinds = [m["kind"] for m in replay["markers"]]
    assert kinds == ["product.pinned", "deal.started", "deal.ended"]
    deal_marker = replay["markers"][1]
    assert deal_marker["deal_id"] == deal["id"]
    assert deal_marker["discount_pct"] == 30
    deal_at = datetime.fromisoformat(deal["starts_at"])
    assert deal_marker["offset_s"] == pytest.approx(
        (deal_at - first_frame).total_seconds(), abs=0.01
    )
    (product,) = replay["products"]
    assert (product["id"], product["price"], product["buyable"]) == (shop.product_id, 12_900, True)
    assert replay["buying_open"] is True and replay["deals_over"] is True

    csrf = await viewer(client)  # a replay order: no special credited, today's price
    item = {"product_id": shop.product_id, "quantity": 1}
    order = await buy(client, csrf, "replay-1", [item])
    assert order.status == 201, await order.text()
    assert (await order.json())["total"] == 12_900


async def test_sold_out_products_are_shown_but_buying_is_closed(
    recordings: FakeRecordings, client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    await _end(app, shop.special_id)
    recordings.playlists[shop.special_id] = vod_playlist(datetime.now(UTC), 3)
    async with app[ENGINE_KEY].begin() as conn:
        await conn.execute(update(Product).where(Product.id == shop.product_id).values(stock=0))
    replay = await (await client.get(f"/api/v1/specials/{shop.special_id}/replay")).json()
    (product,) = replay["products"]
    assert product["sold_out"] is True and product["buyable"] is False
    assert replay["buying_open"] is False


async def test_no_replay_without_a_recording_or_a_special(
    recordings: FakeRecordings, client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    await _end(app, shop.special_id)
    for path in ("replay", "replay/chat"):
        nothing_kept = await client.get(f"/api/v1/specials/{shop.special_id}/{path}")
        assert nothing_kept.status == 404
        assert (await nothing_kept.json())["error"]["code"] == "replay_unavailable"
    missing = await client.get("/api/v1/specials/99999/replay")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "special_not_found"
    page = await client.get(f"/specials/{shop.special_id}/replay")
    assert page.status == 404
    assert "replay.js" not in await page.text()
    assert f"/specials/{shop.special_id}/replay" not in await (await client.get("/")).text()


async def test_replay_chat_is_in_time_order_paged_and_leaves_out_hidden_messages(
    recordings: FakeRecordings, client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """Deleted messages and those of a banned author are not replayed; offsets follow the video."""
    first_frame = (datetime.now(UTC) - timedelta(seconds=100)).replace(microsecond=0)
    said = [first_frame + timedelta(seconds=s) for s in (10, 20, 30, 40)]
    await _chat(
        app,
        shop.special_id,
        [
            {"text": "first", "created_at": said[0]},
            {"text": "gone", "created_at": said[1], "deleted_at": said[2]},
            {"text": "troll", "created_at": said[2], "author_key": "troll"},
            {"text": "last", "created_at": said[3], "role": "host", "pinned": True},
        ],
    )
    async with app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            insert(ChatBan).values(special_id=shop.special_id, author_key="troll", nickname="t")
        )
    await _end(app, shop.special_id)
    recordings.playlists[shop.special_id] = vod_playlist(first_frame, 50)
    url = f"/api/v1/specials/{shop.special_id}/replay/chat"
    first = await (await client.get(url, params={"limit": "1"})).json()
    assert [m["text"] for m in first["items"]] == ["first"]
    assert first["items"][0]["offset_s"] == pytest.approx(10.0)
    rest = await (await client.get(url, params={"limit": "5", "cursor": first["next"]})).json()
    assert [m["text"] for m in rest["items"]] == ["last"]
    assert rest["next"] is None
    bad = await client.get(url, params={"limit": "0"})
    assert bad.status == 422
    replay = await (await client.get(f"/api/v1/specials/{shop.special_id}/replay")).json()
    (highlight,) = [m for m in replay["markers"] if m["kind"] == "chat.highlight"]
    assert highlight["text"] == "last" and highlight["offset_s"] == pytest.approx(40.0)


async def test_schedule_product_and_replay_pages_link_the_replay(
    recordings: FakeRecordings, client: TestClient[Any, Any], app: web.Application, shop: Shop
) -> None:
    """Once ended and kept, the schedule's card and the product page link the replay page."""
    link = f'href="/specials/{shop.special_id}/replay"'
    now = datetime.now(UTC)
    async with app[ENGINE_KEY].begin() as conn:  # the special on today's schedule
        await conn.execute(
            update(Special)
            .where(Special.id == shop.special_id)
            .values(starts_at=now - timedelta(hours=1), ends_at=now - timedelta(minutes=1))
        )
    recordings.playlists[shop.special_id] = vod_playlist(now - timedelta(hours=1), 3)
    assert link not in await (await client.get("/")).text()  # still live: nothing to replay
    await _end(app, shop.special_id)
    page = await client.get(f"/specials/{shop.special_id}/replay")
    assert page.status == 200
    body = await page.text()
    assert "js/replay.js" in body and "data-replay" in body
    assert link in await (await client.get("/")).text()
    assert link in await (await client.get(f"/products/{shop.product_id}")).text()


async def test_the_replay_routes_are_in_the_openapi_document(client: TestClient[Any, Any]) -> None:
    paths = (await (await client.get("/api/v1/openapi.json")).json())["paths"]
    assert "/api/v1/specials/{special_id}/replay" in paths
    assert "/api/v1/specials/{special_id}/replay/chat" in paths
