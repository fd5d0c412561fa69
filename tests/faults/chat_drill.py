"""Chat over real instances for fault drills: sockets that record everything, and the
database's view of a room's history."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.web.realtime.conftest import Peer

WAIT_S = 10.0


@dataclass
class Recorder:
    """A realtime socket whose every event is kept, read by a task of its own."""

    peer: Peer
    ws: aiohttp.ClientWebSocketResponse
    events: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, base: str, special_id: int, login: str | None = None) -> Recorder:
        peer = Peer(base)
        if login is None:
            await peer.open_session()
        else:
            await peer.login(login)
        ws = await peer.http.ws_connect(f"{base}/ws/specials/{special_id}")
        recorder = cls(peer, ws)
        recorder.task = asyncio.create_task(recorder._read())
        await recorder.wait_for(lambda e: e["type"] == "hello")
        return recorder

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            self.events.extend(frame["events"] if frame["type"] == "batch" else [frame])

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def texts(self) -> set[str]:
        return {event["text"] for event in self.of("chat")}

    async def wait_for(
        self, found: Callable[[dict[str, Any]], bool], within_s: float = WAIT_S, start: int = 0
    ) -> dict[str, Any]:
        """The first event from index ``start`` on for which ``found`` holds."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for event in self.events[start:]:
                if found(event):
                    return event
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no such event within {within_s} s; last: {self.events[-3:]}")

    async def chat(self, text: str) -> None:
        await self.ws.send_json({"type": "chat", "text": text})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        await self.peer.close()


async def stored_messages(database_url: str, special_id: int) -> list[tuple[int, str]]:
    """``(id, text)`` of the room's messages in the database, by id."""
    from sqlalchemy import select

    from livemarket.chat.models import ChatMessage
    from livemarket.storage.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(ChatMessage.id, ChatMessage.text)
                    .where(ChatMessage.special_id == special_id)
                    .order_by(ChatMessage.id)
                )
            ).all()
    finally:
        await engine.dispose()
    return [(int(row[0]), str(row[1])) for row in rows]


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within_s: float, what: str
) -> None:
    """Wait until ``check()`` (plain or awaitable) holds; fail saying ``what`` did not."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not within {within_s} s")


async def health(base: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as response:
        return response.status, await response.json()


async def metrics(base: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as response:
        return await response.text()
