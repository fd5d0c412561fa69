"""The scale-out event bus: Redis pub/sub, so a publish on one instance reaches all.

One pattern subscription (``<prefix>bus:*``) per instance carries every topic;
the instance dispatches to its local handlers by topic. A single subscription
made once means no race between "a room is opened here" and "an event is
published elsewhere", and no subscribe/unsubscribe traffic as rooms come and go;
the price is that each instance sees every special's events, which for one
season's few dozen rooms is nothing. The publisher's own instance receives its
events back through Redis like every other, so ordering per topic is Redis's
order everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livemarket.bus.events import Event, Handler
from livemarket.bus.local import HandlerSubscription, LocalHandlers
from livemarket.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0


class RedisBus:
    """Publishes to ``<prefix>bus:<topic>``; one reader task dispatches to local handlers."""

    def __init__(self, client: Redis, *, prefix: str = "livemarket:") -> None:
        self._client = client
        self._channel_prefix = f"{prefix}bus:"
        self._handlers = LocalHandlers()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False

    async def publish(self, topic: str, event: Event) -> None:
        payload = json.dumps(dict(event), ensure_ascii=False, separators=(",", ":"))
        await self._client.publish(self._channel_prefix + topic, payload.encode())

    def subscribe(self, topic: str, handler: Handler) -> HandlerSubscription:
        subscription = self._handlers.add(topic, handler)
        self._start()
        return subscription

    async def ready(self) -> None:
        """Return once the pattern subscription is confirmed by Redis."""
        self._start()
        await self._ready.wait()

    def _start(self) -> None:
        if self._reader is None and not self._closed:
            self._reader = asyncio.get_running_loop().create_task(
                self._read_forever(), name="redis-bus-reader"
            )

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read_once()
            except (RedisError, OSError) as exc:
                self._ready.clear()
                log.warning("redis bus lost its subscription (%s); retrying", exc)
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _read_once(self) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.psubscribe(self._channel_prefix + "*")
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._on_message(message)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await asyncio.shield(pubsub.aclose())

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "psubscribe":
            self._ready.set()
            return
        if kind != "pmessage":
            return
        channel = message["channel"]
        topic = (channel.decode() if isinstance(channel, bytes) else channel)[
            len(self._channel_prefix) :
        ]
        if not self._handlers.wanted(topic):
            return
        try:
            event = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("dropping a malformed bus event on %s", topic)
            return
        self._handlers.deliver(topic, event)

    async def close(self) -> None:
        self._closed = True
        self._handlers.clear()
        if self._reader is not None:
            await cancel_and_wait([self._reader])
            self._reader = None
