"""Both event-bus backends keep one contract: deliver by topic, stop on close, isolate failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from livemarket.bus.events import EventBus, special_topic
from livemarket.bus.memory import InProcessBus
from livemarket.bus.redis import RedisBus

#: These tests are about delivery, not payloads: toy events.
pytestmark = pytest.mark.toy_events


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        memory = InProcessBus()
        yield memory
        await memory.close()
        return
    url = request.getfixturevalue("redis_url")
    client = Redis.from_url(url)
    redis_bus = RedisBus(client, prefix=request.getfixturevalue("redis_prefix"))
    yield redis_bus
    await redis_bus.close()
    await client.aclose()


async def _received(seen: list[Any], count: int) -> None:
    async with asyncio.timeout(5):
        while len(seen) < count:
            await asyncio.sleep(0.01)


async def test_events_reach_their_topic_only_and_stop_after_close(bus: EventBus) -> None:
    """A subscriber gets its topic's events in order, none of another topic's, none after close."""
    seen: list[tuple[str, Any]] = []
    subscription = bus.subscribe(special_topic(1), lambda topic, event: seen.append((topic, event)))
    await bus.ready()
    await bus.publish(special_topic(2), {"type": "chat", "text": "elsewhere"})
    await bus.publish(special_topic(1), {"type": "chat", "text": "하나"})
    await bus.publish(special_topic(1), {"type": "chat", "text": "둘"})
    await _received(seen, 2)
    assert [event["text"] for _, event in seen] == ["하나", "둘"]
    subscription.close()
    await bus.publish(special_topic(1), {"type": "chat", "text": "late"})
    await asyncio.sleep(0.1)
    assert len(seen) == 2


async def test_a_failing_handler_does_not_stop_the_others(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    """One subscriber raising is logged; the next subscriber still gets the event."""
    seen: list[Any] = []

    def broken(_topic: str, _event: Any) -> None:
        raise RuntimeError("boom")

    bus.subscribe("calendar", broken)
    bus.subscribe("calendar", lambda _topic, event: seen.append(event))
    await bus.ready()
    await bus.publish("calendar", {"type": "calendar.changed"})
    await _received(seen, 1)
    assert "event handler failed" in caplog.text
