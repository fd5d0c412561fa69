"""A room fanning out through worker threads to real TCP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.config import Settings
from livemarket.realtime.fanout import Connection, Room
from livemarket.realtime.frames import close_frame
from livemarket.realtime.sender import ParallelSender
from livemarket.realtime.sink import TransportSink, plain_fd
from livemarket.web.app import create_app
from livemarket.web.realtime import gateway
from livemarket.web.typedefs import REALTIME_KEY

TIMEOUT = 10.0
#: Socket buffers fixed small, so that a large frame is only partly taken at first.
SMALL_BUFFER = 32 * 1024


class ServerSide(asyncio.Protocol):
    """The server's end of one connection: a sink for the room. It does not read, so
    a client's reset shows up only when the fan-out writes to it."""

    def __init__(self, accepted: asyncio.Queue[ServerSide]) -> None:
        self.accepted = accepted
        self.sink: TransportSink | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        self.sink = TransportSink(transport)
        self.accepted.put_nowait(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class RecordingSender(ParallelSender):
    """Notes what sockets left over, to tell which path a test took."""

    def __init__(self) -> None:
        super().__init__(2, min_parallel=1, chunk=2)
        self.left: list[tuple[int, int]] = []

    def send(self, fds: list[int], data: bytes) -> list[tuple[int, int]]:
        left = super().send(fds, data)
        self.left.extend(left)
        return left


class Bench:
    """A listening server, a room with a threaded sender, and raw client sockets."""

    def __init__(self, room: Room, server: asyncio.Server, sender: RecordingSender) -> None:
        self.room = room
        self.sender = sender
        self.server = server
        self.accepted: asyncio.Queue[ServerSide] = asyncio.Queue()
        self.clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.sides: list[ServerSide] = []

    async def join(self, n: int) -> None:
        port = self.server.sockets[0].getsockname()[1]
        for _ in range(n):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            self.clients.append(await asyncio.open_connection(sock=sock))
            side = await asyncio.wait_for(self.accepted.get(), TIMEOUT)
            assert side.sink is not None
            self.room.add(Connection(side.sink))
            self.sides.append(side)


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    loop = asyncio.get_running_loop()
    sender = RecordingSender()
    sender.start()
    room = Room(1, loop, window_s=0.0, sender=sender)
    holder: list[Bench] = []
    server = await loop.create_server(lambda: ServerSide(holder[0].accepted), "127.0.0.1", 0)
    holder.append(Bench(room, server, sender))
    yield holder[0]
    room.cancel_timers()
    for side in holder[0].sides:
        assert side.sink is not None
        side.sink.abort()
    for _, writer in holder[0].clients:
        writer.close()
    await asyncio.sleep(0)
    server.close()
    await server.wait_closed()
    sender.close()


async def read_events(reader: asyncio.StreamReader, count: int) -> list[dict[str, Any]]:
    """``count`` events from unmasked server frames, batches unpacked."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        head = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
        assert head[0] == 0x81
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = json.loads(await asyncio.wait_for(reader.readexactly(length), TIMEOUT))
        events.extend(payload["events"] if payload["type"] == "batch" else [payload])
    return events


async def flush_now(room: Room) -> None:
    """Let the room's flush (scheduled with call_soon) run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_threaded_fanout_delivers_every_frame_in_order(bench: Bench) -> None:
    """Thirty events to twenty sockets, written by three threads: each gets all, in order."""
    await bench.join(20)
    for i in range(30):
        bench.room.publish({"type": "chat", "text": f"m{i}"})
        await flush_now(bench.room)
    for reader, _ in bench.clients:
        events = await read_events(reader, 30)
        assert [e["text"] for e in events] == [f"m{i}" for i in range(30)]
        assert [e["seq"] for e in events] == list(range(1, 31))


async def test_a_partially_written_frame_is_completed_in_order(bench: Bench) -> None:
    """A socket that takes only part of a large frame gets the rest through its transport,
    before later frames; a reader that catches up sees every event whole and in order."""
    await bench.join(3)
    big = "가" * 400_000  # 1.2 MB: far more than the socket buffers take at once
    bench.room.publish({"type": "chat", "text": big})
    await flush_now(bench.room)
    assert [index for index, _ in bench.sender.left] == [0, 1, 2]
    for side in bench.sides:  # the rest waits in each transport
        assert side.sink is not None
        assert side.sink.buffered() > 0
    bench.room.publish({"type": "chat", "text": "after"})
    await flush_now(bench.room)
    for reader, _ in bench.clients:
        events = await read_events(reader, 2)
        assert [e["text"] for e in events] == [big, "after"]
    assert len(bench.room.connections) == 3


async def test_a_socket_closed_by_its_client_is_skipped(bench: Bench) -> None:
    """A client that reset its connection costs a failed write, not the fan-out: the
    others get the frame and the dead one's transport closes through asyncio."""
    await bench.join(5)
    _, gone = bench.clients[2]
    raw = gone.get_extra_info("socket")
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.transport.abort()  # RST
    await asyncio.sleep(0.1)
    for i in range(3):
        bench.room.publish({"type": "chat", "text": f"m{i}"})
        await flush_now(bench.room)
    await asyncio.wait_for(bench.sides[2].lost, TIMEOUT)
    assert [sent for _, sent in bench.sender.left] == [0]  # found out by one write
    for index, (reader, _) in enumerate(bench.clients):
        if index != 2:
            assert [e["text"] for e in await read_events(reader, 3)] == ["m0", "m1", "m2"]


async def test_a_closing_transport_is_not_written_to_directly(bench: Bench) -> None:
    """A transport closing after its close frame (the client said goodbye) gets nothing
    more, though its connection is still in the room until asyncio reports it lost."""
    await bench.join(2)
    sink = bench.sides[0].sink
    assert sink is not None
    sink.close(close_frame(1000))
    assert len(bench.room.connections) == 2
    bench.room.publish({"type": "chat", "text": "late"})
    await flush_now(bench.room)
    reader, _ = bench.clients[0]
    rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # to EOF: the close frame only
    assert rest == close_frame(1000)
    assert [e["text"] for e in await read_events(bench.clients[1][0], 1)] == ["late"]


class FakeTransport(asyncio.Transport):
    """Only ``get_extra_info``: what ``plain_fd`` looks at."""

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__(extra)


def test_only_plain_tcp_sockets_are_offered_for_direct_writes() -> None:
    """Under TLS the bytes must be encrypted by the transport: no descriptor is offered."""
    with socket.socket() as sock:
        assert plain_fd(FakeTransport({"socket": sock})) == sock.fileno()
        assert plain_fd(FakeTransport({"socket": sock, "ssl_object": object()})) == -1
    assert plain_fd(FakeTransport({})) == -1


@pytest.mark.parametrize("threads", [None, -1, 0, 2])
async def test_the_setting_chooses_the_fan_out_writers(
    threads: int | None,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
) -> None:
    """``fanout_send_threads``: unset = the default, -1 = transports only, N = N threads."""
    app = create_app(settings.model_copy(update={"fanout_send_threads": threads}))
    await aiohttp_client(app)
    sender = app[REALTIME_KEY].hub.sender
    if threads == -1 or (threads is None and gateway.SEND_WORKERS < 0):
        assert sender is None
    else:
        assert isinstance(sender, ParallelSender)
        assert sender.workers == (gateway.SEND_WORKERS if threads is None else threads)
