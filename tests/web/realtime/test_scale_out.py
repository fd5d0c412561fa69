"""Two app instances on one Redis and one database: chat, bans, counts and likes cross over."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from livemarket.accounts.service import create_user
from livemarket.web.app import create_app
from livemarket.web.typedefs import SESSIONS_KEY
from tests.conftest import PASSWORD, forget_redis_keys
from tests.fakes import add_special
from tests.web.realtime.conftest import Peer

pytestmark = pytest.mark.redis


@pytest.fixture
async def two_instances(
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    sqlite_url: str,
    redis_url: str,
    redis_prefix: str,
) -> AsyncIterator[tuple[str, str, int]]:
    """Base URLs of two instances sharing Redis and the database, and a live special."""
    settings = make_settings(
        database_url=sqlite_url, redis_url=redis_url, redis_prefix=redis_prefix
    )
    first = create_app(settings)
    second = create_app(settings)
    one = await aiohttp_client(first)
    two = await aiohttp_client(second)
    host = await create_user(first[SESSIONS_KEY], username="host", password=PASSWORD, role="host")
    await create_user(first[SESSIONS_KEY], username="op", password=PASSWORD, role="operator")
    special_id = await add_special(first[SESSIONS_KEY], host.id)
    yield str(one.make_url("")).rstrip("/"), str(two.make_url("")).rstrip("/"), special_id
    await forget_redis_keys(redis_url, redis_prefix)


async def test_chat_bans_counts_and_likes_cross_instances(
    two_instances: tuple[str, str, int],
) -> None:
    """A message on one instance reaches the other; counts and likes add up over both."""
    base_one, base_two, special_id = two_instances
    alice, bob, op = Peer(base_one), Peer(base_two), Peer(base_one)
    try:
        await alice.open_session()
        await bob.open_session()
        await op.login("op")
        on_one = await alice.connect(special_id)
        on_two = await bob.connect(special_id)
        moderator = await op.connect(special_id)
        for socket in (on_one, on_two, moderator):
            await socket.next("hello")

        await on_one.send({"type": "chat", "text": "from instance one"})
        got = await on_two.next("chat")
        assert got["text"] == "from instance one"
        await on_two.send({"type": "chat", "text": "from instance two"})
        reply = await on_one.next("chat", text="from instance two")

        await on_two.next("viewers", count=3)  # two here on one, one on two
        await on_one.next("viewers", count=3)

        for _ in range(5):
            await on_one.send({"type": "like"})
            await on_two.send({"type": "like"})
        await on_one.next("likes", count=10)
        await on_two.next("likes", count=10)

        await moderator.send({"type": "moderate", "action": "ban", "message_id": reply["id"]})
        assert (await on_two.next("error"))["code"] == "chat_banned"
        assert await on_two.closed() == 4003
        again = await bob.connect(special_id)
        assert (await again.next("hello"))["you"]["banned"] is True
        await on_one.send({"type": "chat", "text": "still watching?"})
        await again.next("chat", text="still watching?")  # banned from chat, not from watching
    finally:
        for peer in (alice, bob, op):
            await peer.close()
