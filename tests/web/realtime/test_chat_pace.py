"""Chat pacing in scale-out: one viewer's sockets on two instances share one budget."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livemarket.accounts.service import create_user
from livemarket.web.typedefs import SESSIONS_KEY
from tests.conftest import PASSWORD, StartInstance, forget_redis_keys
from tests.fakes import add_special
from tests.web.realtime.conftest import Peer, Socket

pytestmark = pytest.mark.redis


@pytest.fixture
async def cleanup_redis(redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
    yield
    await forget_redis_keys(redis_url, redis_prefix)


@pytest.mark.usefixtures("cleanup_redis")
async def test_sixth_message_over_two_instances_is_refused(
    start_instance: StartInstance,
) -> None:
    """Five messages from one viewer over sockets on two instances pass, the sixth is refused;
    the host, on both instances too, is not paced."""
    first, second = await start_instance(), await start_instance()
    sessions = first.app[SESSIONS_KEY]
    host_user = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host_user.id)
    viewer, host = Peer(first.url), Peer(first.url)  # one cookie jar each, sent to both
    try:
        await viewer.open_session()
        await host.login("host")
        tabs = [await viewer.connect(special_id), await _on(second.url, viewer, special_id)]
        studio = [await host.connect(special_id), await _on(second.url, host, special_id)]
        for socket in (*tabs, *studio):
            await socket.next("hello")

        for i in range(5):
            await tabs[i % 2].send({"type": "chat", "text": f"m{i}"})
            await tabs[i % 2].next("chat", text=f"m{i}")
        for tab in tabs:
            await tab.send({"type": "chat", "text": "one too many"})
            error = await tab.next("error")
            assert error["code"] == "chat_rate_limited"
            assert 0 < error["retry_after"] <= 10

        for i in range(8):
            await studio[i % 2].send({"type": "chat", "text": f"host {i}"})
            await studio[i % 2].next("chat", text=f"host {i}")
    finally:
        await viewer.close()
        await host.close()


async def _on(base: str, peer: Peer, special_id: int) -> Socket:
    """A socket of ``peer``'s session (its cookie jar) on another instance."""
    return Socket(await peer.http.ws_connect(f"{base}/ws/specials/{special_id}"))
