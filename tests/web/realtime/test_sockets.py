"""The gateway owns each socket after the handshake: no task per viewer, its own heartbeat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.bus import catalogue
from livemarket.bus.events import special_topic
from livemarket.web.realtime.gateway import HEARTBEAT_S, SOCKETS_KEY, ViewerSocket
from livemarket.web.typedefs import ACTIVE_DEALS_KEY, BUS_KEY, REALTIME_KEY
from tests.fakes import a_deal, add_special
from tests.web.realtime.conftest import TIMEOUT, Peer

Peers = Callable[[], Peer]


async def test_open_sockets_hold_no_task_each(peers: Peers, live_special: int) -> None:
    """Twenty idle viewers add no task (aiohttp's handler is done); all still get chat."""
    peer = peers()
    await peer.open_session()
    first = await peer.connect(live_special)
    await first.next("hello")
    before = len(asyncio.all_tasks())
    sockets = [await peers().connect(live_special) for _ in range(20)]
    for socket in sockets:
        await socket.next("hello")
    await asyncio.sleep(0.1)
    assert len(asyncio.all_tasks()) - before < 5
    await first.send({"type": "chat", "text": "everyone?"})
    for socket in sockets:
        await socket.next("chat", text="everyone?")


async def test_heartbeat_pings_and_drops_silent_sockets(
    peers: Peers, live_special: int, app: web.Application
) -> None:
    """A sweep pings every socket; one silent for over two beats is dropped, others stay."""
    silent = await peers().connect(live_special, autoping=False)
    await silent.next("hello")
    lively = await peers().connect(live_special)
    await lively.next("hello")
    sweeper = app[SOCKETS_KEY]
    sweeper.sweep(time.monotonic() + HEARTBEAT_S)  # one beat later: a ping, nobody dropped
    message = await silent.ws.receive(timeout=TIMEOUT)
    assert message.type is aiohttp.WSMsgType.PING
    room = app[REALTIME_KEY].hub.room(live_special)
    assert len(room.connections) == 2
    for connection in room.connections:  # both silent for three beats; then one speaks
        assert isinstance(connection.sink, ViewerSocket)
        connection.sink.seen -= 3 * HEARTBEAT_S
    await lively.send({"type": "ping", "t": 1})  # any frame counts as a sign of life
    await lively.next("pong")
    sweeper.sweep(time.monotonic())
    assert await silent.closed() is not None
    assert len(room.connections) == 1
    await lively.send({"type": "ping", "t": 2})
    await lively.next("pong")


async def test_a_client_close_is_answered_and_the_room_forgets_it(
    peers: Peers, live_special: int, app: web.Application
) -> None:
    peer = peers()
    stays = await peer.connect(live_special)
    await stays.next("hello")
    leaves = await peers().connect(live_special)
    await leaves.next("hello")
    assert app[REALTIME_KEY].hub.connection_count() == 2
    async with asyncio.timeout(TIMEOUT):
        assert await leaves.ws.close() is True  # the server echoed the close frame
    assert leaves.ws.close_code == 1000
    async with asyncio.timeout(TIMEOUT):
        while app[REALTIME_KEY].hub.connection_count() != 1:
            await asyncio.sleep(0.01)


async def test_a_plain_get_is_not_upgraded(client: TestClient[Any, Any], live_special: int) -> None:
    response = await client.get(f"/ws/specials/{live_special}")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "not_websocket"


async def test_joins_share_one_deals_query_until_a_deal_event(
    aiohttp_client: Any, settings: Any
) -> None:
    """Viewers joining together cost one provider call; a deal event makes the next fresh."""
    from livemarket.accounts.service import create_user
    from livemarket.web.app import create_app
    from livemarket.web.typedefs import SESSIONS_KEY

    app = create_app(settings)
    calls: list[int] = []

    async def deals(special_id: int) -> list[catalogue.DealStarted]:
        calls.append(special_id)
        await asyncio.sleep(0.05)
        return [a_deal(special_id, len(calls)).started_event()]

    app[ACTIVE_DEALS_KEY] = deals
    client = await aiohttp_client(app)
    host = await create_user(
        app[SESSIONS_KEY], username="h4", password="correct horse battery", role="host"
    )
    special_id = await add_special(app[SESSIONS_KEY], host.id)
    base = str(client.make_url("")).rstrip("/")
    made = [Peer(base) for _ in range(6)]
    try:
        sockets = await asyncio.gather(*(peer.connect(special_id) for peer in made[:5]))
        hellos = [await socket.next("hello") for socket in sockets]
        assert calls == [special_id]
        assert all([d["deal_id"] for d in hello["deals"]] == [1] for hello in hellos)
        ended = a_deal(special_id, 1).ended_event("ended")
        await app[BUS_KEY].publish(special_topic(special_id), ended)
        await sockets[0].next("deal.ended")
        late = await (await made[5].connect(special_id)).next("hello")
        assert [d["deal_id"] for d in late["deals"]] == [2]
    finally:
        for peer in made:
            await peer.close()


async def test_a_message_sent_just_before_closing_still_counts(
    peers: Peers, live_special: int, app: web.Application
) -> None:
    """Typing, pressing enter and closing the tab at once: the message still goes out."""
    watcher = await peers().connect(live_special)
    await watcher.next("hello")
    for round_ in range(5):
        leaver = peers()
        await leaver.open_session()
        socket = await leaver.connect(live_special)
        await socket.next("hello")
        await socket.send({"type": "chat", "text": f"bye {round_}"})
        await socket.ws.close()
        await watcher.next("chat", text=f"bye {round_}")
    async with asyncio.timeout(TIMEOUT):
        while app[REALTIME_KEY].hub.connection_count() != 1:
            await asyncio.sleep(0.01)
