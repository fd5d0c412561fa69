"""/metrics carries the shop's figures: sockets, orders and revenue, refusals by code, deals."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.web.realtime.conftest import Peer
from tests.web.test_checkout_api import Shop, as_user, buy, shop, start, viewer

__all__ = ["shop"]


async def _figures(
    client: TestClient[Any, Any],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = await (await client.get("/metrics")).text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_orders_revenue_refusals_and_running_deals_are_counted(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """A created order adds its total; a replay and a refusal are counted by outcome and code;
    the running deal's units left follow the sale."""
    await start(client, await as_user(client, "host"), shop)
    csrf = await viewer(client)
    item = {"product_id": shop.product_id, "quantity": 2}
    for _ in range(2):  # the same key twice: one order, one replay
        await buy(client, csrf, "metrics-order-1", [item], special_id=shop.special_id)
    refused = await buy(client, csrf, "metrics-order-2", [{**item, "product_id": 99_999}])
    assert refused.status == 404
    figures = await _figures(client)
    assert figures[("livemarket_orders_total", (("outcome", "created"),))] == 1
    assert figures[("livemarket_orders_total", (("outcome", "replayed"),))] == 1
    assert figures[("livemarket_order_revenue_krw_total", ())] == 2 * 9_030
    code = (await refused.json())["error"]["code"]
    key = ("livemarket_api_refusals_total", (("code", code), ("route", "/api/v1/orders")))
    assert figures[key] == 1
    assert figures[("livemarket_deals_running", ())] == 1
    left = ("livemarket_deal_units_left", (("special_id", str(shop.special_id)),))
    assert figures[left] == 10 - 2


async def test_open_sockets_are_counted_per_special(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """Two viewers on one special: two sockets there, two in all; none once they leave."""
    base = str(client.make_url("")).rstrip("/")
    sockets = []
    for _ in range(2):
        peer = Peer(base)
        await peer.open_session()
        sockets.append((peer, await peer.connect(shop.special_id)))
        await sockets[-1][1].next("hello")
    figures = await _figures(client)
    assert figures[("livemarket_sockets_open", (("special_id", str(shop.special_id)),))] == 2
    assert figures[("livemarket_sockets_open_total", ())] == 2
    for peer, _socket in sockets:
        await peer.close()
    for _ in range(100):
        if (await _figures(client))[("livemarket_sockets_open_total", ())] == 0:
            break
        await asyncio.sleep(0.05)
    assert (await _figures(client))[("livemarket_sockets_open_total", ())] == 0


async def test_chat_outcomes_error_frames_and_fanout_times_are_counted(
    client: TestClient[Any, Any], shop: Shop
) -> None:
    """One message accepted, one refused as empty: both counted by outcome; the refusal's
    error frame counted by code; the fan-out that carried the message timed."""
    base = str(client.make_url("")).rstrip("/")
    peer = Peer(base)
    try:
        await peer.open_session()
        socket = await peer.connect(shop.special_id)
        await socket.next("hello")
        await socket.send({"type": "chat", "text": "안녕하세요"})
        await socket.next("chat")
        await socket.send({"type": "chat", "text": "   "})
        refusal = await socket.next("error")
    finally:
        await peer.close()
    figures = await _figures(client)
    assert figures[("livemarket_chat_messages_total", (("outcome", "accepted"),))] == 1
    assert figures[("livemarket_chat_messages_total", (("outcome", refusal["code"]),))] == 1
    assert figures[("livemarket_socket_refusals_total", (("code", refusal["code"]),))] == 1
    assert figures[("livemarket_fanout_seconds_count", ())] >= 1
