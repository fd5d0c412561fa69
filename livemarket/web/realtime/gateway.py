"""``GET /ws/specials/{special_id}``: the one WebSocket of each viewer page.

The handler is thin: check the origin and the upgrade, open the room, answer the
handshake, then hand the socket to a :class:`ViewerSocket` and return. From then
on aiohttp has let go of the connection: no request, headers, session, parser,
WebSocket reader, heartbeat timer, middleware frames or handler tasks stay alive
per viewer (by ``tracemalloc`` they held ~14 of the 16.4 KB of Python heap each
socket cost; ~2.2 KB are left: the transport, this protocol object and the
fan-out's ``Connection``). Writes never go through here: the fan-out core writes
frames to each socket directly while its transport holds nothing (``sender.py``,
from the loop thread and ``SEND_WORKERS`` threads), else through the transport.

Incoming bytes go through websockets' sans-I/O protocol (``reader.py``: framing,
close codes, pongs, limits) and the frames it yields are parsed (``protocol.py``)
as they arrive; those that need the chat or the database run in order on a
short-lived task per socket that exists only while it has frames to work on.
Refusals go back as ``error`` frames and the socket stays open.

Limits: frames over ``protocol.MAX_FRAME_CHARS`` get ``frame_too_large``;
messages over ``MAX_MSG_BYTES`` are not even buffered: the socket is closed with
1009 (message too big). Every data frame, fragment and ping of an anonymous
socket is charged to its flood budget. Reading stops while more than
``HIGH_WATER`` bytes wait to be written to the client (pongs and events alike), so
a client that sends but does not read cannot grow the server's buffers. One
heartbeat sweep per ``HEARTBEAT_S`` pings every socket and drops those that sent
nothing (not even a pong) for two beats; no timer per socket. Shutdown closes
every socket with 1001 (going away).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from urllib.parse import urlsplit

from aiohttp import web
from websockets.utils import accept_key

from livemarket.accounts.roles import Principal
from livemarket.bus import catalogue
from livemarket.chat.rules import Author
from livemarket.errors import DomainError, ErrorKind
from livemarket.realtime import protocol
from livemarket.realtime.admission import SocketSeats
from livemarket.realtime.fanout import Connection
from livemarket.realtime.frames import OP_PING, Opcode, encode, frame
from livemarket.realtime.reader import FrameReader
from livemarket.realtime.service import RealtimeService, RoomInfo, Viewer, no_deals
from livemarket.realtime.wire import WireSocket
from livemarket.scheduler.pins import pin_product
from livemarket.tasks import TaskBoard, TaskHealth, cancel_and_wait, supervise
from livemarket.web.api import path_int
from livemarket.web.auth import principal
from livemarket.web.client_address import client_address
from livemarket.web.cors import CorsPolicy
from livemarket.web.errors import ApiError
from livemarket.web.typedefs import (
    ACTIVE_DEALS_KEY,
    CORS_KEY,
    SETTINGS_KEY,
)

log = logging.getLogger(__name__)

HEARTBEAT_S = 25.0
#: Threads writing a fan-out beside the loop's own (``sender.py``) when the setting
#: ``fanout_send_threads`` is unset: one when there is a second core (more only compete
#: on two); 0 for none, -1 for no direct socket writes at all (every frame through its
#: transport, as before; the benchmark compares).
SEND_WORKERS = 1 if (os.cpu_count() or 1) > 1 else 0
MAX_MSG_BYTES = 64 * 1024
#: Frames waiting for the chat path per socket before reading from it pauses.
INBOX_MAX = 64
_PING = frame(OP_PING, b"")


class Sockets:
    """What the gateway owns besides the sockets: their frame tasks and the heartbeat."""

    def __init__(self, realtime: RealtimeService, seats: SocketSeats) -> None:
        self.realtime = realtime
        self.seats = seats
        self.tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def spawn(self, socket: ViewerSocket) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(socket.work())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def start(self, board: TaskBoard | None = None) -> None:
        self._heartbeat = supervise("realtime-heartbeat", self._beat, board=board)

    async def _beat(self, health: TaskHealth) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.sweep(time.monotonic())
            health.ok()

    def sweep(self, now: float) -> None:
        """Ping every socket; drop those that sent nothing (not even a pong) for two beats."""
        for room in list(self.realtime.hub.rooms.values()):
            for connection in list(room.connections):
                sink = connection.sink
                if not isinstance(sink, ViewerSocket):
                    continue
                if now - sink.seen > 2 * HEARTBEAT_S:
                    connection.drop("no_heartbeat")
                else:
                    sink.write(_PING)

    async def close(self) -> None:
        heartbeat = [self._heartbeat] if self._heartbeat is not None else []
        await cancel_and_wait([*self.tasks, *heartbeat])
        self._heartbeat = None


SOCKETS_KEY = web.AppKey("realtime_sockets", Sockets)


class ViewerSocket(WireSocket):
    """One viewer's socket after the handshake, and the fan-out core's sink for it."""

    __slots__ = ("_inbox", "_sockets", "_worker", "done", "info")

    def __init__(
        self, transport: asyncio.Transport, sockets: Sockets, info: RoomInfo, who: Principal
    ) -> None:
        # Staff are logged-in people running the show; the budget is for anonymous floods.
        budget = None if who.is_staff else protocol.FrameBudget()
        super().__init__(transport, FrameReader(MAX_MSG_BYTES, budget=budget), Viewer(who))
        self._sockets = sockets
        self._inbox: deque[str] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.info = info
        self.done = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done:
            return
        self.done = True
        self.connection.closed = True
        self._sockets.seats.release(self.connection)
        self._sockets.realtime.leave(self.info, self.connection)
        if self._worker is None:  # else the worker releases the room once it is done
            self._sockets.realtime.release(self.info)

    def received(self, opcode: Opcode, data: str | bytes, verdict: str) -> None:
        realtime, info, connection = self._sockets.realtime, self.info, self.connection
        if verdict == "refuse":
            realtime.send_error(
                info,
                connection,
                DomainError(
                    "too_many_frames", "Too many frames; slow down.", kind=ErrorKind.LIMITED
                ),
            )
            return
        if not isinstance(data, str):
            realtime.send_error(
                info, connection, DomainError("malformed_frame", "Frames are JSON text.")
            )
            return
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(data)
        if len(self._inbox) >= INBOX_MAX and not self._read_paused:
            self.pause_reading()
        if self._worker is None:
            self._worker = self._sockets.spawn(self)

    async def work(self) -> None:
        """Act on the waiting frames in order, then end (idle sockets hold no task)."""
        try:
            while self._inbox and not self._stopped:
                raw = self._inbox.popleft()
                if self._read_paused and len(self._inbox) < INBOX_MAX // 2:
                    self.resume_reading()
                await _handle(self._sockets.realtime, self.info, self.connection, raw)
        finally:
            self._worker = None
            if not self._inbox:
                self._inbox = None
            if self.done:
                self._sockets.realtime.release(self.info)


def origin_allowed(request: web.Request, policy: CorsPolicy) -> bool:
    """The page's own origin, or one the CORS policy allows (``allowed_origins``, the
    public and instance URLs; compared normalised, as for WHIP/WHEP).

    Browsers always send ``Origin`` on a WebSocket upgrade, so a missing one is a
    non-browser client (an encoder, the benchmark), which no cookie can be
    borrowed from; it is let through and gets only what its session allows.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if policy.allows(origin):
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _resume_of(request: web.Request) -> tuple[str, int] | None:
    raw = request.query.get("resume", "")
    epoch, _, seq = raw.partition(":")
    if not epoch or not seq.isdigit() or len(seq) > 15:
        return None
    return epoch, int(seq)


def _author(who: Principal) -> Author:
    return Author(key=who.viewer_key, nickname=who.nickname, role=who.role.value)


def _handshake(request: web.Request) -> bytes | None:
    """The ``101`` answer to a valid WebSocket upgrade (no extensions, no subprotocol)."""
    if not web.WebSocketResponse().can_prepare(request).ok:
        return None
    accept = accept_key(request.headers["Sec-WebSocket-Key"]).encode()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


class _Detached(web.StreamResponse):
    """What aiohttp gets back for a socket it no longer owns: nothing left to write."""

    def __init__(self) -> None:
        super().__init__(status=101)

    @property
    def keep_alive(self) -> bool:
        return False

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _take_over(request: web.Request, transport: asyncio.Transport, socket: WireSocket) -> None:
    """Move the connection from aiohttp's request handler to ``socket``.

    aiohttp is told the connection is gone (with no transport left to close), so it
    drops its per-connection state and ends its task once the handler returns.
    """
    handler = request.protocol
    transport.set_protocol(socket)
    socket.adopt()
    handler.transport = None
    handler.connection_lost(None)


async def websocket(request: web.Request) -> web.StreamResponse:
    special_id = path_int(request, "special_id")
    if not origin_allowed(request, request.app[CORS_KEY]):
        raise ApiError(403, "origin_forbidden", "This origin may not open the realtime socket.")
    answer = _handshake(request)
    if answer is None:
        raise ApiError(400, "not_websocket", "This address takes WebSocket upgrades only.")
    sockets = request.app[SOCKETS_KEY]
    realtime = sockets.realtime
    who = await principal(request)
    info = await realtime.open(special_id)  # NotFound -> 404 before the upgrade
    try:
        deals = await realtime.active_deals(info, request.app.get(ACTIVE_DEALS_KEY, no_deals))
    except BaseException:
        realtime.release(info)
        raise
    transport = request.transport
    if transport is None or transport.is_closing():
        realtime.release(info)
        return web.Response(status=499)
    # From here to the end nothing awaits: the socket joins the room in one step.
    socket = ViewerSocket(transport, sockets, info, who)
    address = client_address(request, request.app[SETTINGS_KEY].trusted_proxies)
    try:  # the caps (docs/streaming.md); the seat is released in ``connection_lost``
        sockets.seats.take(socket.connection, special_id, address, staff=who.is_staff)
    except DomainError:
        realtime.release(info)
        raise
    _take_over(request, transport, socket)
    transport.write(answer)
    realtime.hello(info, socket.connection, deals, _resume_of(request))
    return _Detached()


async def _handle(
    realtime: RealtimeService, info: RoomInfo, connection: Connection, raw: str
) -> None:
    viewer: Viewer = connection.info
    who = viewer.principal
    try:
        frame = protocol.parse(raw)
        if frame.type == "ping":
            reply = catalogue.Pong(
                type=catalogue.PONG,
                t=frame.client_time,
                server_time=realtime.clock().timestamp() * 1000,
            )
            realtime.hub.room(info.special_id).send_to(connection, encode(reply))
            return
        if not who.viewer_key:
            raise DomainError(
                "session_required", "Open a session first (GET /api/v1/session), then reconnect."
            )
        if frame.type == "chat":
            await realtime.chat.post(info.special_id, _author(who), frame.text)
        elif frame.type == "like":
            realtime.like(info, viewer)
        elif not realtime.can_moderate(info, who):
            raise DomainError(
                "not_moderator", "Only the special's host or an operator may do this."
            )
        elif frame.type == "pin":
            await pin_product(realtime.sessions, realtime.bus, info.special_id, frame.product_id)
        else:
            await _moderate(realtime, info, who, frame)
    except DomainError as error:
        realtime.send_error(info, connection, error)
    except Exception:  # a lost Redis or database must cost this frame, not the socket
        log.exception("realtime frame failed for special %s", info.special_id)
        realtime.send_error(
            info,
            connection,
            DomainError(
                "unavailable", "Could not do that just now; try again.", kind=ErrorKind.UNAVAILABLE
            ),
        )


async def _moderate(
    realtime: RealtimeService, info: RoomInfo, who: Principal, frame: protocol.ClientFrame
) -> None:
    chat, by, sid = realtime.chat, _author(who), info.special_id
    if frame.action == "delete":
        await chat.delete(sid, frame.message_id, by)
    elif frame.action == "ban":
        await chat.ban(sid, frame.message_id, by, by_user_id=who.user_id)
    elif frame.action == "slow":
        await chat.set_slow_mode(sid, frame.seconds, by)
    else:
        await chat.pin(sid, frame.message_id, by)


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/specials/{special_id}", websocket, name="realtime")
