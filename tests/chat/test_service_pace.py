"""ChatService pacing: in memory embedded, in Redis over instances, staff never paced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import unused_port
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus.events import Event, special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.chat.ids import MessageIds
from livemarket.chat.redis_pace import RedisPace
from livemarket.chat.rules import Author, PaceRule, RoomRules
from livemarket.chat.service import ChatService
from livemarket.chat.store import ChatWriter
from livemarket.errors import DomainError
from tests.conftest import forget_redis_keys, open_sessions
from tests.fakes import add_special

VIEWER = Author(key="v:alice", nickname="앨리스")
HOST = Author(key="user:1", nickname="Host", role="host")


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """SQLite only here (pacing is Redis's and memory's, not the database's)."""
    async with open_sessions(sqlite_url) as made:
        yield made


@pytest.fixture
async def special_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    return await add_special(sessions, status="scheduled")


def _service(
    sessions: async_sessionmaker[AsyncSession],
    node: int,
    pacer: RedisPace | None,
    bus: InProcessBus | None = None,
) -> ChatService:
    return ChatService(
        sessions,
        bus or InProcessBus(),
        ChatWriter(sessions),  # never started: posts only queue
        ids=MessageIds(node),
        clock=lambda: datetime.now(UTC),
        monotonic=lambda: 0.0,  # embedded pacing would refuse the sixth whatever the time
        pacer=pacer,
    )


async def _refusal(service: ChatService, special_id: int, author: Author) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await service.post(special_id, author, "one too many")
    return caught.value


async def test_embedded_paces_in_memory(
    sessions: async_sessionmaker[AsyncSession], special_id: int
) -> None:
    """Without a pacer the rules count sends in memory, as before."""
    service = _service(sessions, 0, None)
    await service.open_room(special_id)
    for i in range(5):
        await service.post(special_id, VIEWER, f"m{i}")
    assert (await _refusal(service, special_id, VIEWER)).code == "chat_rate_limited"


@pytest.mark.redis
async def test_two_services_share_a_viewers_budget(
    sessions: async_sessionmaker[AsyncSession], special_id: int, redis_url: str, redis_prefix: str
) -> None:
    """A viewer posting through two instances gets five messages in all; staff are not paced."""
    one_client, two_client = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        one = _service(sessions, 1, RedisPace(one_client, prefix=redis_prefix))
        two = _service(sessions, 2, RedisPace(two_client, prefix=redis_prefix))
        for service in (one, two):
            await service.open_room(special_id)
        for i in range(5):
            await (one if i % 2 else two).post(special_id, VIEWER, f"m{i}")
        for service in (one, two):
            error = await _refusal(service, special_id, VIEWER)
            assert error.code == "chat_rate_limited"
            assert float(error.details["retry_after"]) > 0
        for i in range(12):
            await (one if i % 2 else two).post(special_id, HOST, f"host {i}")
        staff_key = RedisPace(one_client, prefix=redis_prefix).key(special_id, HOST.key)
        assert not await one_client.exists(staff_key)  # staff never reach Redis
        # Content rules still run locally before any round trip.
        with pytest.raises(DomainError) as caught:
            await one.post(special_id, Author(key="v:bob", nickname="bob"), "  ")
        assert caught.value.code == "chat_empty"
    finally:
        await forget_redis_keys(redis_url, redis_prefix)
        await one_client.aclose()
        await two_client.aclose()


async def test_lost_redis_refuses_and_publishes_nothing(
    sessions: async_sessionmaker[AsyncSession], special_id: int
) -> None:
    """If the pacer cannot answer, the viewer's message is refused as unavailable, not sent."""
    dead = Redis.from_url(f"redis://127.0.0.1:{unused_port()}/0")
    try:
        bus = InProcessBus()
        service = _service(sessions, 3, RedisPace(dead, prefix="lmtest:dead:"), bus)
        await service.open_room(special_id)
        seen: list[Event] = []
        bus.subscribe(special_topic(special_id), lambda _topic, event: seen.append(event))
        error = await _refusal(service, special_id, VIEWER)
        assert error.code == "chat_unavailable"
        assert seen == []
        await service.post(special_id, HOST, "staff need no pacing")
        assert [event["text"] for event in seen] == ["staff need no pacing"]
    finally:
        await dead.aclose()


def test_pace_rule_is_the_rooms() -> None:
    """The rule handed to a pacer follows the room's limits and slow mode."""
    rules = RoomRules(slow_mode_s=20)
    assert rules.pace == PaceRule(rate_count=5, rate_window_s=10.0, slow_mode_s=20)
    assert rules.pace.horizon_s == 20
