"""Hostile clients against a real server socket: fragments, close frames, pings, odd JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.realtime.fanout import HIGH_WATER
from livemarket.web.realtime.gateway import ViewerSocket
from livemarket.web.typedefs import REALTIME_KEY
from tests.web.realtime.conftest import TIMEOUT, Peer, RawSocket

Peers = Callable[[], Peer]
TEXT, CONT, CLOSE, PING = 0x1, 0x0, 0x8, 0x9


def strict_json(payload: bytes) -> Any:
    """Parse as JSON proper: ``Infinity`` and ``NaN`` are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(payload, parse_constant=refuse)


async def raw_viewer(client: TestClient[Any, Any], special_id: int, **kw: Any) -> RawSocket:
    raw = await RawSocket.connect(
        client.server.host, client.server.port, f"/ws/specials/{special_id}", **kw
    )
    opcode, payload = await asyncio.wait_for(raw.read_frame(), TIMEOUT)
    assert strict_json(payload)["type"] == "hello"
    return raw


async def test_empty_continuation_frames_do_not_stall_the_server(
    client: TestClient[Any, Any], live_special: int, app: web.Application, peers: Peers
) -> None:
    """A text frame then empty continuations from an anonymous socket: a flood, closed
    with 1008; at 40,000 of them (240 KB) ``/healthz`` still answers at once (it took
    10.9 s) and the others in the room are unaffected."""
    other = await peers().connect(live_special)
    await other.next("hello")
    raw = await raw_viewer(client, live_special)
    try:
        raw.send(TEXT, b"{", fin=False)
        for _ in range(100):
            raw.send(CONT, b"", fin=False)
        frames, code = await asyncio.wait_for(raw.read_until_close(), TIMEOUT)
        assert code == 1008
        assert strict_json(frames[-1][1])["code"] == "too_many_frames"
    finally:
        await raw.close()
    raw = await raw_viewer(client, live_special)
    try:
        raw.send(TEXT, b"{", fin=False)
        for _ in range(40_000):
            raw.send(CONT, b"", fin=False)
        with contextlib.suppress(ConnectionError):
            await raw.writer.drain()
        started = time.monotonic()
        assert (await client.get("/healthz")).status == 200
        assert time.monotonic() - started < 1.0
    finally:
        await raw.close()
    async with asyncio.timeout(TIMEOUT):
        while app[REALTIME_KEY].hub.connection_count() != 1:
            await asyncio.sleep(0.01)
    await other.send({"type": "ping", "t": 1})
    await other.next("pong")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (struct.pack("!H", 1005), 1002),
        (struct.pack("!H", 999), 1002),
        (struct.pack("!H", 2999), 1002),
        (b"\x03", 1002),
        (struct.pack("!H", 1000) + b"\xed\xa0\x80", 1007),
        (struct.pack("!H", 4000) + "잘 가요".encode(), 4000),
    ],
)
async def test_close_frames_are_answered_as_rfc_6455_says(
    client: TestClient[Any, Any],
    live_special: int,
    app: web.Application,
    payload: bytes,
    expected: int,
) -> None:
    """Codes no endpoint may send and 1-byte payloads get 1002, a reason that is not
    UTF-8 gets 1007, a valid close is echoed; the room forgets the socket either way."""
    raw = await raw_viewer(client, live_special)
    try:
        raw.send(CLOSE, payload)
        _, code = await asyncio.wait_for(raw.read_until_close(), TIMEOUT)
        assert code == expected
        assert await asyncio.wait_for(raw.reader.read(), TIMEOUT) == b""  # then TCP closes
    finally:
        await raw.close()
    async with asyncio.timeout(TIMEOUT):
        while app[REALTIME_KEY].hub.connection_count():
            await asyncio.sleep(0.01)


async def test_a_ping_flood_from_a_client_that_does_not_read_stays_within_the_write_limit(
    client: TestClient[Any, Any], live_special: int, app: web.Application, peers: Peers
) -> None:
    """Pongs count against the 64 KiB per-socket backlog like any frame: a staff socket
    (no flood budget) pinging megabytes without reading makes the server stop reading
    it, not buffer pongs (four such sockets took the server from 270 to 646 MB)."""
    host = peers()
    await host.login("host")
    cookie = "; ".join(f"{c.key}={c.value}" for c in host.http.cookie_jar)
    raw = await raw_viewer(client, live_special, rcvbuf=4096, sndbuf=4096, cookie=cookie)
    (connection,) = app[REALTIME_KEY].hub.room(live_special).connections
    socket = connection.sink
    assert isinstance(socket, ViewerSocket)
    ping = b"\x89\xfd\x00\x00\x00\x00" + b"p" * 125  # masked with zeros: payload as is
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    most = sent = 0
    try:
        while sent < 8 * 1024 * 1024 and loop.time() < deadline:
            if raw.writer.transport.get_write_buffer_size() < 256 * 1024:
                raw.writer.write(ping * 512)
                sent += len(ping) * 512
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(raw.writer.drain(), 0.2)
            most = max(most, socket.buffered())
            if not socket._transport.is_reading():
                break  # the server stopped reading this client
        assert not socket._transport.is_reading()
        assert sent < 8 * 1024 * 1024
        for _ in range(5):  # and it stays so while the client goes on
            raw.writer.write(ping * 512)
            await asyncio.sleep(0.05)
            most = max(most, socket.buffered())
        assert most <= HIGH_WATER + len(ping)
    finally:
        raw.abort()


async def test_deep_json_gets_an_error_frame_and_logs_nothing(
    peers: Peers, live_special: int, caplog: pytest.LogCaptureFixture
) -> None:
    """1,500 levels of nesting are a malformed frame, refused cheaply, with no traceback."""
    socket = await peers().connect(live_special)
    await socket.next("hello")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await socket.ws.send_str("[" * 1500 + "]" * 1500)
            assert (await socket.next("error"))["code"] == "malformed_frame"
    assert not caplog.records
    await socket.send({"type": "ping", "t": 5})
    assert (await socket.next("pong"))["t"] == 5


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
async def test_a_ping_with_a_number_that_is_not_finite_gets_json_back(
    client: TestClient[Any, Any], live_special: int, number: str
) -> None:
    """Whatever a client sends, every frame the server answers with is JSON."""
    raw = await raw_viewer(client, live_special)
    try:
        raw.send(TEXT, ('{"type":"ping","t":' + number + "}").encode())
        opcode, payload = await asyncio.wait_for(raw.read_frame(), TIMEOUT)
        assert opcode == TEXT
        answer = strict_json(payload)
        assert answer["type"] == "error"
        assert answer["code"] == "malformed_frame"
    finally:
        await raw.close()
