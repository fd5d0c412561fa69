"""The realtime gateway on a real server: two and three WebSocket clients per special."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.bus import catalogue
from livemarket.bus.events import special_topic
from livemarket.checkout.ledger import Remaining
from livemarket.checkout.push import stock_event
from livemarket.realtime import protocol
from livemarket.web.typedefs import ACTIVE_DEALS_KEY, BUS_KEY
from tests.fakes import a_deal
from tests.web.realtime.conftest import Peer, RawSocket

Peers = Callable[[], Peer]


async def viewer(peers: Peers, special_id: int, nickname: str | None = None) -> Any:
    peer = peers()
    await peer.open_session()
    if nickname is not None:
        assert await peer.set_nickname(nickname) == 200
    socket = await peer.connect(special_id)
    return peer, socket


async def test_hello_snapshot_then_broadcast_to_everyone(peers: Peers, live_special: int) -> None:
    """Each socket starts with a snapshot; a message reaches all three viewers, marked by role."""
    sockets = []
    for name in ("앨리스", "bob", "carol"):
        _, socket = await viewer(peers, live_special, name)
        hello = await socket.next("hello")
        assert hello["status"] == "live"
        assert hello["chat"] == [] and hello["deals"] == []
        assert hello["you"]["nickname"] == name and hello["you"]["moderator"] is False
        sockets.append(socket)
    await sockets[0].send({"type": "chat", "text": "  안녕하세요!  "})
    for socket in sockets:
        message = await socket.next("chat")
        assert message["text"] == "안녕하세요!"
        assert message["nickname"] == "앨리스" and message["role"] == "viewer"
        assert "_author" not in message and "author_key" not in message


async def test_host_messages_are_marked(peers: Peers, live_special: int) -> None:
    """A host's message carries role host and the host's display name."""
    host = peers()
    await host.login("host")
    host_socket = await host.connect(live_special)
    assert (await host_socket.next("hello"))["you"]["moderator"] is True
    _, watcher = await viewer(peers, live_special)
    await watcher.next("hello")
    await host_socket.send({"type": "chat", "text": "welcome"})
    message = await watcher.next("chat")
    assert (message["role"], message["nickname"]) == ("host", "진행자")


async def test_history_survives_a_restart(
    peers: Peers, live_special: int, aiohttp_client: Any, settings: Any
) -> None:
    """The last messages are persisted and come back in a new server's hello."""
    _, socket = await viewer(peers, live_special)
    await socket.next("hello")
    for i in range(3):
        await socket.send({"type": "chat", "text": f"message {i}"})
        await socket.next("chat", text=f"message {i}")
    await socket.ws.close()
    from livemarket.web.app import create_app

    second = await aiohttp_client(create_app(settings))
    again = Peer(str(second.make_url("")).rstrip("/"))
    try:
        await again.open_session()
        hello = await (await again.connect(live_special)).next("hello")
    finally:
        await again.close()
    assert [m["text"] for m in hello["chat"]][-3:] == ["message 0", "message 1", "message 2"]


async def test_delete_vanishes_for_everyone(peers: Peers, live_special: int) -> None:
    """The host deletes a message: every viewer is told, and later snapshots omit it."""
    host = peers()
    await host.login("host")
    host_socket = await host.connect(live_special)
    await host_socket.next("hello")
    _, author = await viewer(peers, live_special)
    _, other = await viewer(peers, live_special)
    await author.next("hello")
    await other.next("hello")
    await author.send({"type": "chat", "text": "delete me"})
    message = await other.next("chat")
    await host_socket.send({"type": "moderate", "action": "delete", "message_id": message["id"]})
    for socket in (author, other, host_socket):
        assert (await socket.next("chat.deleted"))["id"] == message["id"]
    _, late = await viewer(peers, live_special)
    assert (await late.next("hello"))["chat"] == []


async def test_viewers_cannot_moderate_or_pin(peers: Peers, live_special: int) -> None:
    """A viewer's moderation or pin frame is refused with a reason and changes nothing."""
    _, socket = await viewer(peers, live_special)
    await socket.next("hello")
    await socket.send({"type": "chat", "text": "mine"})
    message = await socket.next("chat")
    await socket.send({"type": "moderate", "action": "delete", "message_id": message["id"]})
    assert (await socket.next("error"))["code"] == "not_moderator"
    await socket.send({"type": "pin", "product_id": 1})
    assert (await socket.next("error"))["code"] == "not_moderator"
    await socket.send({"type": "chat", "text": "still here"})
    await socket.next("chat", text="still here")
    assert not [e for e in socket.seen if e["type"] == "chat.deleted"]


async def test_another_host_cannot_moderate(
    peers: Peers, live_special: int, make_user: Any
) -> None:
    """A host of another special is a viewer here."""
    await make_user("host", "other-host")
    other = peers()
    await other.login("other-host")
    socket = await other.connect(live_special)
    assert (await socket.next("hello"))["you"]["moderator"] is False
    await socket.send({"type": "moderate", "action": "slow", "seconds": 10})
    assert (await socket.next("error"))["code"] == "not_moderator"


async def test_ban_closes_the_socket_and_survives_reconnect_and_rename(
    peers: Peers, live_special: int
) -> None:
    """A banned viewer is told and disconnected, and cannot chat again under a new name."""
    operator = peers()
    await operator.login("op")
    op_socket = await operator.connect(live_special)
    await op_socket.next("hello")
    troll, troll_socket = await viewer(peers, live_special, "troll")
    _, bystander = await viewer(peers, live_special)
    await troll_socket.next("hello")
    await bystander.next("hello")
    await troll_socket.send({"type": "chat", "text": "spam spam"})
    message = await op_socket.next("chat")
    await op_socket.send({"type": "moderate", "action": "ban", "message_id": message["id"]})
    assert (await troll_socket.next("error"))["code"] == "chat_banned"
    assert await troll_socket.closed() == 4003
    assert (await bystander.next("chat.banned"))["nickname"] == "troll"
    assert await troll.set_nickname("nice person") == 200
    again = await troll.connect(live_special)
    hello = await again.next("hello")
    assert hello["you"]["banned"] is True
    await again.send({"type": "chat", "text": "I am new"})
    assert (await again.next("error"))["code"] == "chat_banned"
    await bystander.send({"type": "chat", "text": "calm again"})
    await bystander.next("chat", text="calm again")
    assert not [e for e in bystander.seen if e.get("text") == "I am new"]


async def test_slow_mode(peers: Peers, live_special: int) -> None:
    """With slow mode on, a viewer's second message is refused with the wait; off lifts it."""
    host = peers()
    await host.login("host")
    host_socket = await host.connect(live_special)
    await host_socket.next("hello")
    _, socket = await viewer(peers, live_special)
    await socket.next("hello")
    await host_socket.send({"type": "moderate", "action": "slow", "seconds": 60})
    assert (await socket.next("chat.mode"))["slow_mode_s"] == 60
    await socket.send({"type": "chat", "text": "one"})
    await socket.next("chat", text="one")
    await socket.send({"type": "chat", "text": "two"})
    error = await socket.next("error")
    assert error["code"] == "chat_slow_mode" and 0 < error["retry_after"] <= 60
    await host_socket.send({"type": "chat", "text": "host is exempt"})
    await socket.next("chat", text="host is exempt")
    await host_socket.send({"type": "moderate", "action": "slow", "seconds": 0})
    await socket.next("chat.mode", slow_mode_s=0)
    await socket.send({"type": "chat", "text": "three"})
    await socket.next("chat", text="three")
    _, late = await viewer(peers, live_special)
    assert (await late.next("hello"))["slow_mode_s"] == 0


async def test_rule_refusals_tell_the_sender_why(peers: Peers, live_special: int) -> None:
    """Too long, blocked words and floods are refused with their codes; others see nothing."""
    _, socket = await viewer(peers, live_special)
    _, other = await viewer(peers, live_special)
    await socket.next("hello")
    await other.next("hello")
    await socket.send({"type": "chat", "text": "가" * 201})
    assert (await socket.next("error"))["code"] == "chat_too_long"
    await socket.send({"type": "chat", "text": "시 발"})
    assert (await socket.next("error"))["code"] == "chat_blocked_word"
    for i in range(6):
        await socket.send({"type": "chat", "text": f"flood {i}"})
    assert (await socket.next("error"))["code"] == "chat_rate_limited"
    await other.next("chat", text="flood 4")
    await other.send({"type": "chat", "text": "end"})
    await other.next("chat", text="end")
    texts = [e["text"] for e in other.seen if e["type"] == "chat"]
    assert texts == [f"flood {i}" for i in range(5)] + ["end"]


async def test_likes_are_aggregated_and_pushed_at_a_bounded_rate(
    peers: Peers, live_special: int
) -> None:
    """Bursts of clicks become a few ``likes`` totals, capped per person per interval."""
    _, clicker = await viewer(peers, live_special)
    _, other_clicker = await viewer(peers, live_special)
    _, watcher = await viewer(peers, live_special)
    for socket in (clicker, other_clicker, watcher):
        await socket.next("hello")
    for _ in range(25):
        await clicker.send({"type": "like"})
        await other_clicker.send({"type": "like"})
    first = await watcher.next("likes")
    await asyncio.sleep(1.2)
    await watcher.send({"type": "ping", "t": 1})
    await watcher.next("pong")
    likes = [e for e in watcher.seen if e["type"] == "likes"]
    assert 1 <= len(likes) <= 4
    assert 20 <= likes[-1]["count"] <= 50  # at most 10 per person per 0.5 s interval
    assert first["count"] >= 10
    assert not [e for e in clicker.seen if e["type"] == "error"]
    _, late = await viewer(peers, live_special)
    assert (await late.next("hello"))["likes"] == likes[-1]["count"]


async def test_a_frame_flood_is_refused_then_disconnected(peers: Peers, live_special: int) -> None:
    """A client sending far more frames than a person could is told, then dropped (1008)."""
    _, flooder = await viewer(peers, live_special)
    _, other = await viewer(peers, live_special)
    await flooder.next("hello")
    await other.next("hello")
    with contextlib.suppress(ConnectionError):
        for _ in range(200):
            await flooder.send({"type": "like"})
    assert (await flooder.next("error"))["code"] == "too_many_frames"
    assert await flooder.closed() == 1008
    await other.send({"type": "chat", "text": "unaffected"})
    await other.next("chat", text="unaffected")


async def test_viewer_counts_follow_joins_and_leaves(peers: Peers, live_special: int) -> None:
    """Three sockets are counted; one leaving brings the count down."""
    sockets = []
    for _ in range(3):
        _, socket = await viewer(peers, live_special)
        await socket.next("hello")
        sockets.append(socket)
    await sockets[0].next("viewers", count=3)
    await sockets[2].ws.close()
    await sockets[0].next("viewers", count=2)


async def test_oversized_and_malformed_frames_get_errors(peers: Peers, live_special: int) -> None:
    """Bad frames are refused with an error and the socket keeps working; huge ones close 1009."""
    _, socket = await viewer(peers, live_special)
    await socket.next("hello")
    await socket.ws.send_str("x" * (protocol.MAX_FRAME_CHARS + 1))
    assert (await socket.next("error"))["code"] == "frame_too_large"
    for bad, code in [
        ("not json", "malformed_frame"),
        ("[1, 2]", "malformed_frame"),
        ('{"type": "chat"}', "invalid_field"),
        ('{"type": "chat", "text": 5}', "invalid_field"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "moderate", "action": "nuke", "message_id": 1}', "invalid_field"),
    ]:
        await socket.ws.send_str(bad)
        assert (await socket.next("error"))["code"] == code, bad
    await socket.ws.send_bytes(b"\x00\x01")
    assert (await socket.next("error"))["code"] == "malformed_frame"
    await socket.send({"type": "chat", "text": "still fine"})
    await socket.next("chat", text="still fine")
    await socket.ws.send_str("x" * (100 * 1024))
    assert await socket.closed() == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_a_10_mb_frame_is_not_buffered(
    peers: Peers, live_special: int, client: TestClient[Any, Any]
) -> None:
    """A frame announcing 10 MB is refused from its header (1009); the room carries on."""
    _, other = await viewer(peers, live_special)
    await other.next("hello")
    raw = await RawSocket.connect(
        client.server.host, client.server.port, f"/ws/specials/{live_special}"
    )
    try:
        opcode, payload = await asyncio.wait_for(raw.read_frame(), 10)
        assert json.loads(payload)["type"] == "hello"
        raw.send_header(0x1, 10 * 1024 * 1024)
        while True:
            opcode, payload = await asyncio.wait_for(raw.read_frame(), 10)
            if opcode == 0x8:
                break
        assert int.from_bytes(payload[:2], "big") == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    finally:
        await raw.close()
    await other.send({"type": "chat", "text": "unaffected"})
    await other.next("chat", text="unaffected")


async def test_socket_without_session_can_watch_but_not_chat(
    client: TestClient[Any, Any], live_special: int
) -> None:
    """A socket opened with no session gets events but is told to open one to chat."""
    socket_ws = await client.ws_connect(f"/ws/specials/{live_special}")
    from tests.web.realtime.conftest import Socket

    socket = Socket(socket_ws)
    hello = await socket.next("hello")
    assert hello["you"]["can_chat"] is False
    await socket.send({"type": "chat", "text": "hi"})
    assert (await socket.next("error"))["code"] == "session_required"
    await socket_ws.close()


async def test_origin_is_checked_on_upgrade(
    peers: Peers, live_special: int, client: TestClient[Any, Any]
) -> None:
    """A foreign Origin is refused before the upgrade; the page's own origin is accepted."""
    peer = peers()
    await peer.open_session()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await peer.connect(live_special, origin="https://evil.example")
    assert refused.value.status == 403
    own = f"http://{client.server.host}:{client.server.port}"
    socket = await peer.connect(live_special, origin=own)
    await socket.next("hello")


async def test_unknown_special_is_404(peers: Peers, live_special: int) -> None:
    """No socket for a special that does not exist."""
    peer = peers()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await peer.connect(live_special + 1000)
    assert refused.value.status == 404


async def test_reconnect_resumes_with_snapshot_and_missed_events(
    peers: Peers, live_special: int
) -> None:
    """A reconnect with its last seq gets a fresh snapshot plus the chat it missed."""
    _, talker = await viewer(peers, live_special)
    await talker.next("hello")
    peer, socket = await viewer(peers, live_special)
    hello = await socket.next("hello")
    await talker.send({"type": "chat", "text": "seen"})
    seen = await socket.next("chat", text="seen")
    await socket.ws.close()
    for text in ("missed 1", "missed 2"):
        await talker.send({"type": "chat", "text": text})
        await talker.next("chat", text=text)
    again = await peer.connect(live_special, query=f"resume={hello['epoch']}:{seen['seq']}")
    resumed = await again.next("hello")
    assert resumed["resumed"] is True
    assert [m["text"] for m in resumed["chat"]] == ["seen", "missed 1", "missed 2"]
    assert (await again.next("chat"))["text"] == "missed 1"
    assert (await again.next("chat"))["text"] == "missed 2"
    stale = await peer.connect(live_special, query="resume=deadbeef:3")
    assert (await stale.next("hello"))["resumed"] is False


async def test_deals_and_stock_from_other_domains_are_forwarded(
    peers: Peers, live_special: int, app: web.Application
) -> None:
    """Events published on the special's topic reach the sockets; the snapshot lists deals."""
    _, socket = await viewer(peers, live_special)
    await socket.next("hello")
    deal = a_deal(live_special, 9).started_event()
    await app[BUS_KEY].publish(special_topic(live_special), deal)
    got = await socket.next("deal.started")
    assert {k: got[k] for k in deal} == deal
    for remaining in (19, 18, 17):
        stock = Remaining(product_id=3, stock=100, deal_id=9, deal_remaining=remaining)
        await app[BUS_KEY].publish(special_topic(live_special), stock_event(stock))
    await socket.next("stock", remaining=17)


async def test_hello_lists_active_deals_from_the_provider(
    aiohttp_client: Any, settings: Any, make_user: Any
) -> None:
    """The checkout's provider, registered under ACTIVE_DEALS_KEY, fills ``hello.deals``."""
    from livemarket.web.app import create_app
    from livemarket.web.typedefs import SESSIONS_KEY
    from tests.fakes import add_special

    app = create_app(settings)

    async def deals(special_id: int) -> list[catalogue.DealStarted]:
        return [a_deal(special_id, 1).started_event()]

    app[ACTIVE_DEALS_KEY] = deals
    client = await aiohttp_client(app)
    from livemarket.accounts.service import create_user

    host = await create_user(
        app[SESSIONS_KEY], username="h2", password="correct horse battery", role="host"
    )
    special_id = await add_special(app[SESSIONS_KEY], host.id)
    peer = Peer(str(client.make_url("")).rstrip("/"))
    try:
        hello = await (await peer.connect(special_id)).next("hello")
    finally:
        await peer.close()
    assert [(d["deal_id"], d["special_id"]) for d in hello["deals"]] == [(1, special_id)]


async def test_shutdown_closes_sockets_with_1001(aiohttp_server: Any, settings: Any) -> None:
    """Stopping the server closes every socket with 1001 (going away)."""
    from livemarket.accounts.service import create_user
    from livemarket.web.app import create_app
    from livemarket.web.typedefs import SESSIONS_KEY
    from tests.fakes import add_special

    app = create_app(settings)
    server = await aiohttp_server(app)
    host = await create_user(
        app[SESSIONS_KEY], username="h3", password="correct horse battery", role="host"
    )
    special_id = await add_special(app[SESSIONS_KEY], host.id)
    peer = Peer(str(server.make_url("")).rstrip("/"))
    try:
        socket = await peer.connect(special_id)
        await socket.next("hello")
        closing = asyncio.ensure_future(socket.closed())
        await server.close()
        assert await closing == 1001
    finally:
        await peer.close()


@pytest.mark.toy_events  # "note": ~9 KB events that no domain publishes
async def test_a_client_that_stops_reading_neither_delays_others_nor_stays(
    peers: Peers, live_special: int, client: TestClient[Any, Any], app: web.Application
) -> None:
    """While one client reads nothing, the others get every event promptly; it is dropped."""
    import time

    from livemarket.web.typedefs import REALTIME_KEY

    fast = []
    for _ in range(2):
        _, socket = await viewer(peers, live_special)
        await socket.next("hello")
        fast.append(socket)
    slow = await RawSocket.connect(
        client.server.host, client.server.port, f"/ws/specials/{live_special}", rcvbuf=4096
    )
    opcode, payload = await asyncio.wait_for(slow.read_frame(), 10)
    assert json.loads(payload)["type"] == "hello"  # from here on it reads nothing
    room = app[REALTIME_KEY].hub.rooms[live_special]
    assert len(room.connections) == 3
    filler = "가" * 3000  # ~9 KB per event
    total = 1500

    async def publish() -> None:
        for i in range(total):
            await app[BUS_KEY].publish(
                special_topic(live_special),
                {"type": "note", "i": i, "sent": time.monotonic(), "filler": filler},
            )
            if i % 25 == 0:
                await asyncio.sleep(0.01)

    async def receive(socket: Any) -> float:
        worst = 0.0
        for i in range(total):
            event = await socket.next("note", wait=30)
            assert event["i"] == i
            worst = max(worst, time.monotonic() - event["sent"])
        return worst

    try:
        results = await asyncio.gather(publish(), *(receive(s) for s in fast))
        worst_delay = max(results[1:])
        assert len(room.connections) == 2  # the stuck client was dropped by policy
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(30):
                while True:  # drain what the kernel held for it; then the reset/EOF
                    await slow.read_frame()
    finally:
        await slow.close()
    # Generous for a shared CI machine; a stall behind the stuck client would be unbounded.
    assert worst_delay < 5.0, worst_delay


async def test_host_pins_a_message_and_a_product(
    peers: Peers, live_special: int, app: web.Application
) -> None:
    """Pins reach every viewer and later snapshots; a product outside the line-up is refused."""
    from livemarket.checkout.models import Product
    from livemarket.scheduler.models import SpecialProduct
    from livemarket.web.typedefs import SESSIONS_KEY

    async with app[SESSIONS_KEY].begin() as db:
        strawberry = Product(sku="s-1", name="설향 딸기", category="food", price=19000, stock=50)
        soap = Product(sku="s-2", name="Soap", category="beauty", price=5000, stock=5)
        db.add_all([strawberry, soap])
        await db.flush()
        db.add(SpecialProduct(special_id=live_special, product_id=strawberry.id))
        ids = strawberry.id, soap.id
    host = peers()
    await host.login("host")
    host_socket = await host.connect(live_special)
    await host_socket.next("hello")
    _, watcher = await viewer(peers, live_special)
    await watcher.next("hello")

    await host_socket.send({"type": "pin", "product_id": ids[0]})
    pinned = await watcher.next("product.pinned")
    assert pinned["product"]["name"] == "설향 딸기" and pinned["product"]["price"] == 19000
    await host_socket.send({"type": "pin", "product_id": ids[1]})
    assert (await host_socket.next("error"))["code"] == "product_not_in_special"
    await host_socket.send({"type": "pin", "product_id": 99999})
    assert (await host_socket.next("error"))["code"] == "product_not_found"

    await watcher.send({"type": "chat", "text": "딸기 몇 kg인가요?"})
    question = await host_socket.next("chat")
    await host_socket.send({"type": "moderate", "action": "pin", "message_id": question["id"]})
    assert (await watcher.next("chat.pinned"))["message"]["text"] == "딸기 몇 kg인가요?"

    _, late = await viewer(peers, live_special)
    hello = await late.next("hello")
    assert hello["pinned_product"]["id"] == ids[0]
    assert hello["pinned_message"]["id"] == question["id"]

    await host_socket.send({"type": "moderate", "action": "delete", "message_id": question["id"]})
    await watcher.next("chat.deleted", id=question["id"])
    _, later = await viewer(peers, live_special)
    assert (await later.next("hello"))["pinned_message"] is None


async def test_moderating_a_message_that_does_not_exist(peers: Peers, live_special: int) -> None:
    """Deleting, banning or pinning an unknown message id is refused with a reason."""
    host = peers()
    await host.login("host")
    socket = await host.connect(live_special)
    await socket.next("hello")
    for action in ("delete", "ban", "pin"):
        await socket.send({"type": "moderate", "action": action, "message_id": 123456})
        assert (await socket.next("error"))["code"] == "chat_message_not_found"
    await socket.send({"type": "chat", "text": "host line"})
    mine = await socket.next("chat")
    await socket.send({"type": "moderate", "action": "ban", "message_id": mine["id"]})
    assert (await socket.next("error"))["code"] == "chat_ban_staff"


async def test_personal_events_reach_only_that_viewers_sockets(
    peers: Peers, live_special: int, client: TestClient[Any, Any]
) -> None:
    """A reminder published for one viewer reaches that viewer's socket, not anyone else's."""
    from livemarket.scheduler.events import viewer_topic

    asker = peers()
    asker_key = (await asker.open_session())["viewer"]["key"]
    asker_socket = await asker.connect(live_special)
    await asker_socket.next("hello")
    _, other_socket = await viewer(peers, live_special)
    await other_socket.next("hello")
    reminder = catalogue.Reminder(
        type=catalogue.REMINDER,
        special_id=live_special,
        title="곧 시작",
        starts_at="2026-12-18T12:00:00+00:00",
        url=f"/specials/{live_special}",
    )
    await client.app[BUS_KEY].publish(viewer_topic(asker_key), reminder)
    assert (await asker_socket.next("reminder"))["title"] == "곧 시작"
    # The other viewer sees the next room event without any reminder before it.
    await asker_socket.send({"type": "chat", "text": "marker"})
    await other_socket.next("chat")
    assert all(event["type"] != "reminder" for event in other_socket.seen)
