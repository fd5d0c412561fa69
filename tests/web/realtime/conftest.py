"""Helpers for realtime tests: specials in the database and independent browser-like peers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.bus import catalogue
from tests.conftest import PASSWORD, UserMaker
from tests.fakes import add_special

TIMEOUT = 10.0


class Socket:
    """One realtime WebSocket; ``next(type)`` reads (unpacking batches) until that type.

    Every frame read is checked against the event catalogue (its type and payload),
    except in tests marked ``toy_events``.
    """

    check = True

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self._buffer: list[dict[str, Any]] = []

    async def _read(self, wait: float) -> dict[str, Any]:
        while not self._buffer:
            message = await self.ws.receive(timeout=wait)
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {message.type} {self.ws.close_code}")
            frame = json.loads(message.data)
            if self.check:
                catalogue.validate_frame(frame)
            self._buffer.extend(frame["events"] if frame["type"] == "batch" else [frame])
        event = self._buffer.pop(0)
        self.seen.append(event)
        return event

    async def next(self, kind: str, wait: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The next event of ``kind`` (whose fields equal ``match``), skipping others."""
        async with asyncio.timeout(wait):
            while True:
                event = await self._read(wait)
                if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return event

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def closed(self, wait: float = TIMEOUT) -> int | None:
        """Read until the server closes; returns the close code."""
        async with asyncio.timeout(wait):
            while True:
                message = await self.ws.receive()
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return self.ws.close_code


@pytest.fixture(autouse=True)
def toy_frames(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("toy_events"):
        monkeypatch.setattr(Socket, "check", False)


class Peer:
    """A browser-like client with its own cookie jar (its own session)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def open_session(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/api/v1/session") as response:
            body: dict[str, Any] = await response.json()
        self.csrf = body["csrf_token"]
        return body

    async def login(self, username: str) -> None:
        async with self.http.post(
            f"{self.base}/api/v1/session", json={"username": username, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]

    async def set_nickname(self, nickname: str) -> int:
        async with self.http.patch(
            f"{self.base}/api/v1/session",
            json={"nickname": nickname},
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            return response.status

    async def connect(self, special_id: int, *, query: str = "", **kw: Any) -> Socket:
        url = f"{self.base}/ws/specials/{special_id}" + (f"?{query}" if query else "")
        return Socket(await self.http.ws_connect(url, **kw))

    async def close(self) -> None:
        await self.http.close()


PeerMaker = Callable[..., Any]


@pytest.fixture
async def peers(
    client: TestClient[Any, Any],
) -> AsyncIterator[Callable[[], Peer]]:
    """``peers()`` makes a new peer against the test server; all are closed afterwards."""
    made: list[Peer] = []
    base = str(client.make_url("")).rstrip("/")

    def make() -> Peer:
        peer = Peer(base)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


@pytest.fixture
async def live_special(
    client: TestClient[Any, Any], app: web.Application, make_user: UserMaker
) -> int:
    """A live special whose host is the user ``host`` (operator ``op`` exists too)."""
    from livemarket.web.typedefs import SESSIONS_KEY

    host = await make_user("host", "host", display_name="진행자")
    await make_user("operator", "op")
    return await add_special(app[SESSIONS_KEY], host.id)


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A frame as a browser sends it, masked with a random key; written by hand so that
    it can break the rules (reserved opcodes, long control frames, bad close codes)."""
    import os
    import struct

    from websockets.utils import apply_mask

    mask = os.urandom(4)
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask)


class RawSocket:
    """A hand-driven WebSocket client over a plain TCP stream: for clients that misbehave."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, *, rcvbuf: int = 0, sndbuf: int = 0, cookie: str = ""
    ) -> RawSocket:
        import base64
        import os
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                + (f"Cookie: {cookie}\r\n" if cookie else "")
                + "\r\n"
            ).encode()
        )
        status = await reader.readline()
        assert b" 101 " in status, status
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    def send_header(self, opcode: int, length: int) -> None:
        """A masked frame header announcing ``length`` bytes (the payload may never come)."""
        import struct

        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self.writer.write(header + b"\x00\x00\x00\x00")  # zero mask: payload as is

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """One masked frame, as a browser would send it (or breaking the rules on purpose)."""
        self.writer.write(masked_frame(opcode, payload, fin=fin))

    async def read_until_close(self) -> tuple[list[tuple[int, bytes]], int]:
        """Every frame until the close frame, and its code (1005 for an empty one)."""
        frames = []
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                return frames, int.from_bytes(payload[:2], "big") if payload else 1005
            frames.append((opcode, payload))

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(length)

    def abort(self) -> None:
        """Drop the connection, whatever is still waiting to be sent."""
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
