"""A message's fate is one thing: published and kept, or refused and kept nowhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus.events import Event, special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.chat import service as service_module
from livemarket.chat.ids import MessageIds
from livemarket.chat.rules import Author
from livemarket.chat.service import ChatService
from livemarket.chat.store import ChatWriter
from livemarket.errors import DomainError
from livemarket.storage.engine import create_engine, session_factory
from tests.fakes import add_special

HOST = Author(key="user:1", nickname="Host", role="host")


class BrokenBus(InProcessBus):
    """A bus whose Redis is away."""

    async def publish(self, topic: str, event: Event) -> None:
        raise ConnectionRefusedError(111, "Connect call failed")


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


def _service(
    sessions: async_sessionmaker[AsyncSession], bus: InProcessBus, writer: ChatWriter
) -> ChatService:
    return ChatService(sessions, bus, writer, ids=MessageIds(1), clock=lambda: datetime.now(UTC))


async def test_a_message_the_bus_did_not_take_is_refused_and_not_kept(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "ECHO_WAIT_S", 0.05)
    special_id = await add_special(sessions)
    writer = ChatWriter(sessions)  # never started: what is queued stays visible
    service = _service(sessions, BrokenBus(), writer)
    await service.open_room(special_id)
    with pytest.raises(DomainError) as refused:
        await service.post(special_id, HOST, "lost in the blip?")
    assert refused.value.code == "chat_unavailable"
    assert writer.health.backlog == 0
    with pytest.raises(DomainError):
        await service.delete(special_id, 12345, HOST)  # not found first: nothing queued
    assert writer.health.backlog == 0


async def test_a_full_writer_queue_refuses_before_publishing_and_counts_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With the database away long enough to fill the queue, new messages are refused
    (nothing published, nothing dropped from the queue) and the refusals are counted."""
    special_id = await add_special(sessions)
    writer = ChatWriter(sessions, max_queue=2)
    bus = InProcessBus()
    seen: list[Any] = []
    bus.subscribe(special_topic(special_id), lambda _topic, event: seen.append(event))
    service = _service(sessions, bus, writer)
    await service.open_room(special_id)
    await service.post(special_id, HOST, "one")
    await service.post(special_id, HOST, "two")
    with pytest.raises(DomainError) as refused:
        await service.post(special_id, HOST, "three")
    assert refused.value.code == "chat_unavailable"
    assert [event["text"] for event in seen] == ["one", "two"]
    assert (writer.health.backlog, writer.health.overflow) == (2, 1)
    await writer.flush()
    assert writer.health.backlog == 0
    await service.post(special_id, HOST, "three")  # room again once written


async def test_a_message_delivered_twice_is_shown_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A publish the Redis client retried after a lost reply arrives twice; the room keeps
    one copy and says the second is not news."""
    special_id = await add_special(sessions)
    service = _service(sessions, InProcessBus(), ChatWriter(sessions))
    await service.open_room(special_id)
    event = await service.post(special_id, HOST, "once")
    assert service.observe(special_id, event) is True  # what the bus brings back
    assert service.observe(special_id, event) is False
    assert [m["text"] for m in service.recent(special_id)] == ["once"]


class LostReplyBus(InProcessBus):
    """Redis took the event but the reply was lost: it is delivered, the publish raises.
    ``delay_s`` is how long Redis stalled before it ran the command."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.late: list[asyncio.Task[None]] = []

    async def publish(self, topic: str, event: Event) -> None:
        self.late.append(asyncio.create_task(self._deliver(topic, event)))
        raise TimeoutError("Timeout reading from 127.0.0.1:6379")

    async def _deliver(self, topic: str, event: Event) -> None:
        await asyncio.sleep(self.delay_s)
        await super().publish(topic, event)


async def _observed(
    sessions: async_sessionmaker[AsyncSession], bus: InProcessBus, special_id: int
) -> tuple[ChatService, ChatWriter]:
    writer = ChatWriter(sessions)
    service = _service(sessions, bus, writer)
    await service.open_room(special_id)
    bus.subscribe(special_topic(special_id), lambda _t, e: service.observe(special_id, e))
    return service, writer


async def test_a_publish_that_failed_after_redis_took_it_counts_as_sent(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publish raised but the message's copy came back from the bus: it was
    delivered, so it is kept and the sender is told it was sent."""
    monkeypatch.setattr(service_module, "ECHO_WAIT_S", 1.0)
    special_id = await add_special(sessions)
    service, writer = await _observed(sessions, LostReplyBus(0.05), special_id)
    event = await service.post(special_id, HOST, "took it after all")
    assert writer.health.backlog == 1
    assert [m["id"] for m in service.recent(special_id)] == [event["id"]]


async def test_a_message_refused_but_delivered_late_is_kept(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis stalled past the wait: the sender was refused, yet viewers got it later;
    history keeps what viewers saw."""
    monkeypatch.setattr(service_module, "ECHO_WAIT_S", 0.05)
    special_id = await add_special(sessions)
    bus = LostReplyBus(0.3)
    service, writer = await _observed(sessions, bus, special_id)
    with pytest.raises(DomainError) as refused:
        await service.post(special_id, HOST, "stalled")
    assert refused.value.code == "chat_unavailable"
    assert writer.health.backlog == 0
    async with asyncio.timeout(2):
        while writer.health.backlog == 0:
            await asyncio.sleep(0.02)
    assert [m["text"] for m in service.recent(special_id)] == ["stalled"]
