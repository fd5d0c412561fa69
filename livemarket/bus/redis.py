"""The scale-out event bus: one Redis stream, so a publish on one instance reaches all.

Every topic goes into one stream (``<prefix>bus``, entries ``t`` = topic, ``d`` =
the JSON event); each instance has one reader that follows the stream from the
position it has read up to and dispatches to its local handlers by topic. The
publisher's own instance reads its events back like every other, so ordering per
topic is the stream's order everywhere.

Why a stream and not pub/sub: pub/sub forgets what it delivers, so an event
published while a subscriber is reconnecting (a Redis blip of a second) reaches
no one on that instance, although ``PUBLISH`` succeeded. An ``XADD`` that
succeeded is in the stream, and a reader that lost its connection resumes after
the last entry it read: an event is delivered on every instance or its publish
raises. Entries older than ``RETAIN_S`` are trimmed by the publishes themselves,
so a reader away for longer than that misses the trimmed ones. After Redis
lost its memory (a restart without persistence) the stream is new: a reader
whose position is past the new stream's end reads it from the start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from redis.asyncio import Redis

from livemarket.bus.events import Event, Handler
from livemarket.bus.local import HandlerSubscription, LocalHandlers
from livemarket.tasks import TaskBoard, TaskHealth, cancel_and_wait, supervise

log = logging.getLogger(__name__)

#: How long entries stay in the stream: how long a reader may be away and miss nothing.
RETAIN_S = 60.0
#: One blocking read waits at most this long, so a dead connection is noticed.
BLOCK_MS = 1000
READ_COUNT = 500
#: A reader that lost Redis tries again after 0.1 s, doubling up to 1 s.
RETRY_BASE_S = 0.1
RETRY_CAP_S = 1.0


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisBus:
    """Publishes to the ``<prefix>bus`` stream; one supervised reader dispatches locally."""

    def __init__(
        self, client: Redis, *, prefix: str = "livemarket:", board: TaskBoard | None = None
    ) -> None:
        self._client = client
        self._stream = f"{prefix}bus"
        self._board = board
        self._handlers = LocalHandlers()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False
        #: The last entry this instance read (``None`` until the reader first started).
        self._position: bytes | str | None = None

    async def publish(self, topic: str, event: Event) -> None:
        """Append the event to the stream; raises when Redis did not take it."""
        payload = json.dumps(dict(event), ensure_ascii=False, separators=(",", ":"))
        oldest_ms = int((time.time() - RETAIN_S) * 1000)
        await self._client.xadd(
            self._stream,
            {"t": topic.encode(), "d": payload.encode()},
            minid=f"{oldest_ms}-0",
            approximate=True,
        )

    def subscribe(self, topic: str, handler: Handler) -> HandlerSubscription:
        subscription = self._handlers.add(topic, handler)
        self._start()
        return subscription

    async def ready(self) -> None:
        """Return once the reader knows its position: anything published later reaches it."""
        self._start()
        await self._ready.wait()

    def _start(self) -> None:
        if self._reader is None and not self._closed:
            self._reader = supervise(
                "redis-bus-reader",
                self._read,
                board=self._board,
                base_s=RETRY_BASE_S,
                cap_s=RETRY_CAP_S,
            )

    async def _read(self, health: TaskHealth) -> None:
        self._ready.clear()
        try:
            position = self._position = await self._resume_from(self._position)
            self._ready.set()
            health.ok()
            while True:
                reply: Any = await self._client.xread(
                    {self._stream: position}, count=READ_COUNT, block=BLOCK_MS
                )
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        position = self._position = entry_id
                        self._dispatch(fields)
                health.ok()
        finally:
            self._ready.clear()

    async def _resume_from(self, position: bytes | str | None) -> bytes | str:
        """Where to read from: the stream's end at first, then after what was read.

        A position past the stream's newest entry means the stream is not the one
        read before (Redis restarted without its data, or its clock went back):
        everything in it is new to this instance.
        """
        newest: Any = await self._client.xrevrange(self._stream, count=1)
        newest_id: bytes | str = newest[0][0] if newest else b"0-0"
        if position is None:
            return newest_id
        if _stream_id(position) > _stream_id(newest_id):
            log.warning("redis bus stream was replaced (Redis lost its data); reading it anew")
            return b"0-0"
        return position

    def _dispatch(self, fields: dict[Any, Any]) -> None:
        raw_topic = fields.get(b"t", fields.get("t"))
        if raw_topic is None:
            return
        topic = raw_topic.decode() if isinstance(raw_topic, bytes) else str(raw_topic)
        if not self._handlers.wanted(topic):
            return
        try:
            event = json.loads(fields.get(b"d", fields.get("d", b"")))
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
