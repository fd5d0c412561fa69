"""Real Chromium: a special goes live in H.264, a product is pinned and a deal runs, the
special ends, and its replay page plays the kept HLS with the deal on its timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.chat.models import ChatMessage
from livemarket.checkout.models import Product
from livemarket.config import Settings
from livemarket.scheduler.models import SpecialProduct
from livemarket.web.typedefs import HLS_KEY, SESSIONS_KEY
from tests.browser.axe import axe_violations
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD, build_settings
from tests.fakes import add_special
from tests.streamer.peers import start_publisher

SDP = {"Content-Type": "application/sdp"}
LIST_PRICE = 12_900

CURRENT_TIME_JS = "() => document.getElementById('lm-replay-video').currentTime"
READY_JS = "() => document.getElementById('lm-replay-video').readyState"
#: hls.js cannot install itself: the page falls back to the browser's own HLS.
POST = "{method: 'POST'}"
NO_HLSJS_JS = "Object.defineProperty(window, 'Hls', {get() {}, set(_v) {}, configurable: false});"


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return build_settings(tmp_path, database_url=sqlite_url)


async def _product(live_server: LiveServer, special_id: int) -> int:
    async with live_server.app[SESSIONS_KEY].begin() as db:
        product = Product(
            sku="yuja-1",
            name="유자청",
            name_en="Yuja tea",
            category="food",
            price=LIST_PRICE,
            stock=40,
        )
        db.add(product)
        await db.flush()
        await db.execute(
            insert(SpecialProduct).values(special_id=special_id, product_id=product.id, position=1)
        )
        return product.id


async def _publish(live_server: LiveServer, special_id: int, key: str, http: Any) -> Any:
    """An aiortc camera sending H.264 over WHIP (so the special is packaged as HLS)."""

    async def signal(offer: str) -> str:
        headers = {**SDP, "Authorization": f"Bearer {key}"}
        async with http.post(
            live_server.url(f"/whip/{special_id}"), data=offer, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            signal.location = response.headers["Location"]  # type: ignore[attr-defined]
            return await response.text()

    publisher = await start_publisher(signal, codec="video/H264")
    publisher.location = signal.location  # type: ignore[attr-defined]
    return publisher


async def _say(
    live_server: LiveServer, special_id: int, message_id: int, text: str, *, after_s: float
) -> None:
    """A viewer's chat message, stored as if said ``after_s`` from now."""
    said = datetime.now(UTC) + timedelta(seconds=after_s)
    async with live_server.app[SESSIONS_KEY].begin() as db:
        db.add(
            ChatMessage(
                id=message_id,
                special_id=special_id,
                author_key=f"viewer-{message_id}",
                nickname=f"viewer{message_id}",
                text=text,
                created_at=said,
            )
        )


async def _chat_texts(page: Any) -> list[str]:
    return list(await page.locator("#lm-replay-chat .replay-chat__text").all_inner_texts())


async def _wait_hls(live_server: LiveServer, http: Any, special_id: int, path: str) -> None:
    async with asyncio.timeout(30):
        while True:
            async with http.get(live_server.url(f"/hls/{special_id}/{path}")) as response:
                if response.status == 200 and "#EXTINF" in await response.text():
                    return
            await asyncio.sleep(0.3)


async def test_replay_page_seeks_to_the_deal_and_sells_at_todays_price(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    app = live_server.app
    app[HLS_KEY].segment_target_s = 1.0  # short segments: a few seconds make several
    app[HLS_KEY].part_target_s = 0.2
    sessions = app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id, status="scheduled")
    product_id = await _product(live_server, special_id)
    async with sessions() as db:
        key = await stream_key_of(db, host.id)

    # The host goes live from the studio (the calendar announces it: the recorder follows).
    studio = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.evaluate(f"() => LM.api('/api/v1/specials/{special_id}/go-live', {POST})")
    async with aiohttp.ClientSession() as http:
        publisher = await _publish(live_server, special_id, key, http)
        try:
            await _wait_hls(live_server, http, special_id, "live.m3u8")
            # The host pins the product over the studio's socket …
            await studio.wait_for_function("() => LM.realtime && LM.realtime.connected()")
            pin = f"() => LM.realtime.send({{type: 'pin', product_id: {product_id}}})"
            assert await studio.evaluate(pin)
            await _say(live_server, special_id, 1, "before the deal", after_s=1.0)
            await asyncio.sleep(3)
            # … and starts a 30 % flash deal.
            await studio.evaluate(
                """([sid, pid]) => LM.api('/api/v1/specials/' + sid + '/deals', {method: 'POST',
                   body: {product_id: pid, discount_pct: 30, duration_s: 300, quantity: 10}})""",
                [special_id, product_id],
            )
            await _say(live_server, special_id, 2, "after the deal", after_s=2.5)
            await asyncio.sleep(4)
            # The host ends the show (its deal stops pricing with it) and the camera stops.
            await studio.evaluate(f"() => LM.api('/api/v1/specials/{special_id}/end', {POST})")
            async with http.delete(live_server.url(publisher.location)) as stopped:
                assert stopped.status in (200, 404)  # 404: ending closed the session already
        finally:
            await publisher.close()
        await _wait_hls(live_server, http, special_id, "replay.m3u8")

    viewer = await new_page(locale="en-US")
    await viewer.goto(live_server.url(f"/specials/{special_id}/replay"))
    marker = viewer.locator('#lm-replay-markers button[data-kind="deal.started"]')
    await marker.wait_for()
    assert "30% off" in (await marker.inner_text())
    assert await viewer.locator('#lm-replay-markers [data-kind="product.pinned"]').count() == 1
    offset = float(await marker.get_attribute("data-offset") or "nan")
    assert 3.0 < offset < 20.0, offset  # pinned after the first frame, the deal 3 s later

    await viewer.wait_for_function(f"() => ({READY_JS})() >= 1", timeout=20_000)
    assert await viewer.locator("#lm-replay").get_attribute("data-engine") == "hlsjs"
    await marker.focus()
    await viewer.keyboard.press("Enter")  # a keyboard user seeks the same way
    await viewer.wait_for_function(
        f"() => Math.abs(({CURRENT_TIME_JS})() - {offset}) < 1.5", timeout=10_000
    )
    assert await marker.get_attribute("aria-current") == "true"
    await viewer.wait_for_function("() => document.querySelectorAll('#lm-replay-chat li').length")
    assert await _chat_texts(viewer) == ["before the deal"]  # the playhead is before the other

    # Chat follows the playhead: forward past the second message, then back to the start.
    await viewer.evaluate(
        f"() => {{ document.getElementById('lm-replay-video').currentTime = {offset + 4}; }}"
    )
    await viewer.wait_for_function(
        "() => document.querySelectorAll('#lm-replay-chat li').length == 2"
    )
    assert await _chat_texts(viewer) == ["before the deal", "after the deal"]
    await viewer.evaluate("() => { document.getElementById('lm-replay-video').currentTime = 0; }")
    await viewer.wait_for_function(
        "() => document.querySelectorAll('#lm-replay-chat li').length == 0"
    )
    assert await viewer.locator("#lm-replay-chat-empty").is_visible()

    card = viewer.locator(f'#lm-shop-cards [data-product-id="{product_id}"]')
    await card.wait_for()
    shown = await card.inner_text()
    assert "₩12,900" in shown and "₩9,030" not in shown, shown  # today's price, not the deal's
    assert await viewer.locator("#lm-deal-banner").is_hidden()
    # Bought from the replay: the watch page's sheet, today's price, not credited to the show.
    await card.locator(f'[data-buy="{product_id}"]').click()
    sheet = viewer.locator("#lm-buy-sheet")
    await sheet.locator('input[name="name"]').fill("김민수")
    await sheet.locator('input[name="phone"]').fill("010-1234-5678")
    await sheet.locator('textarea[name="address"]').fill("서울특별시 중구 세종대로 110")
    await sheet.locator("[data-sheet-confirm]").click()
    done = sheet.locator("[data-sheet-done]")
    await done.wait_for()
    assert "₩12,900" in await done.inner_text()
    assert await viewer.locator("#lm-replay-deal-over").is_visible()

    # Without hls.js (no MSE, as on an iPhone) the browser's own HLS plays and seeks the same.
    native = await new_page(locale="ko-KR", bypass_csp=True)  # so axe can be injected
    await native.add_init_script(NO_HLSJS_JS)
    await native.goto(live_server.url(f"/specials/{special_id}/replay"))
    korean = native.locator('#lm-replay-markers button[data-kind="deal.started"]')
    await korean.wait_for()
    assert "타임딜 시작" in await korean.inner_text()
    assert await native.locator("#lm-replay").get_attribute("data-engine") == "native"
    await native.wait_for_function(f"() => ({READY_JS})() >= 1", timeout=20_000)
    await korean.click()
    await native.wait_for_function(
        f"() => Math.abs(({CURRENT_TIME_JS})() - {offset}) < 1.5", timeout=10_000
    )
    assert await axe_violations(native) == []
    assert page_errors.errors == []
