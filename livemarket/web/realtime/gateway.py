"""``GET /ws/specials/{special_id}``: the one WebSocket of each viewer page.

The handler is thin: check the origin, open the room, send ``hello``, then read
frames, parse them (``protocol.py``) and call the chat or realtime service;
refusals go back as ``error`` frames and the socket stays open. Writes never go
through here: the fan-out core writes frames straight to the transport.

Limits: frames over ``protocol.MAX_FRAME_CHARS`` get ``frame_too_large``;
frames over ``MAX_MSG_BYTES`` are not even buffered: the socket is closed with
1009 (message too big). Heartbeat pings every ``HEARTBEAT_S`` close a socket
whose peer vanished. Shutdown closes every socket with 1001 (going away).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from livemarket.accounts.roles import Principal
from livemarket.chat.ids import MAX_NODE, MessageIds
from livemarket.chat.presence import InProcessLikes, InProcessPresence, LikeCounter, Presence
from livemarket.chat.rules import Author
from livemarket.chat.service import ChatService
from livemarket.chat.store import ChatWriter
from livemarket.errors import DomainError, ErrorKind
from livemarket.web.api import path_int
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.realtime import protocol
from livemarket.web.realtime.fanout import Connection, Hub, error_event
from livemarket.web.realtime.frames import encode
from livemarket.web.realtime.service import RealtimeService, RoomInfo, Viewer, no_deals
from livemarket.web.typedefs import (
    ACTIVE_DEALS_KEY,
    BUS_KEY,
    CLOCK_KEY,
    REALTIME_KEY,
    REDIS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)

log = logging.getLogger(__name__)

HEARTBEAT_S = 25.0
MAX_MSG_BYTES = 64 * 1024


class TransportSink:
    """The fan-out core's view of a socket: non-blocking writes to its transport."""

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def close(self, last: bytes) -> None:
        self.write(last)
        self._transport.close()  # flushes what is buffered first

    def abort(self) -> None:
        self._transport.abort()


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """The page's own origin, or one listed in ``allowed_origins``.

    Browsers always send ``Origin`` on a WebSocket upgrade, so a missing one is a
    non-browser client (an encoder, the benchmark), which no cookie can be
    borrowed from; it is let through and gets only what its session allows.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if origin in allowed:
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


async def websocket(request: web.Request) -> web.StreamResponse:
    special_id = path_int(request, "special_id")
    settings = request.app[SETTINGS_KEY]
    if not origin_allowed(request, settings.allowed_origins):
        raise ApiError(403, "origin_forbidden", "This origin may not open the realtime socket.")
    realtime = request.app[REALTIME_KEY]
    who = await principal(request)
    info = await realtime.open(special_id)  # NotFound -> 404 before the upgrade
    connection: Connection | None = None
    try:
        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_S, max_msg_size=MAX_MSG_BYTES, compress=False
        )
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        deals = await _active_deals(request.app, special_id)
        connection = Connection(TransportSink(transport), Viewer(who))
        realtime.hello(info, connection, deals, _resume_of(request))
        # Staff are logged-in people running the show; the budget is for anonymous floods.
        budget = None if who.is_staff else protocol.FrameBudget()
        loop = asyncio.get_running_loop()
        async for message in ws:
            verdict = "ok" if budget is None else budget.take(loop.time())
            if verdict == "close":
                connection.close(1008, "flood", last=error_event(
                    "too_many_frames", "Far too many frames: disconnected."))
                break
            if verdict == "refuse":
                realtime.send_error(info, connection, DomainError(
                    "too_many_frames", "Too many frames; slow down.", kind=ErrorKind.LIMITED))
                continue
            if message.type is WSMsgType.TEXT:
                await _handle(realtime, info, connection, message.data)
            elif message.type is WSMsgType.BINARY:
                realtime.send_error(
                    info, connection, DomainError("malformed_frame", "Frames are JSON text.")
                )
            if connection.closed:
                break
        return ws
    finally:
        if connection is not None:
            realtime.leave(info, connection)
        realtime.release(info)


async def _active_deals(app: web.Application, special_id: int) -> list[dict[str, Any]]:
    """The checkout's active deals for ``hello``; a failing provider costs only the list."""
    provider = app.get(ACTIVE_DEALS_KEY, no_deals)
    try:
        return await provider(special_id)
    except Exception:
        log.exception("active deals provider failed for special %s", special_id)
        return []


async def _handle(
    realtime: RealtimeService, info: RoomInfo, connection: Connection, raw: str
) -> None:
    viewer: Viewer = connection.info
    who = viewer.principal
    try:
        frame = protocol.parse(raw)
        if frame.type == "ping":
            reply = {"type": "pong", "t": frame.client_time,
                     "server_time": realtime.clock().timestamp() * 1000}
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
            await realtime.pin_product(info, frame.product_id)
        else:
            await _moderate(realtime, info, who, frame)
    except DomainError as error:
        realtime.send_error(info, connection, error)
    except Exception:  # a lost Redis or database must cost this frame, not the socket
        log.exception("realtime frame failed for special %s", info.special_id)
        realtime.send_error(info, connection, DomainError(
            "unavailable", "Could not do that just now; try again.", kind=ErrorKind.UNAVAILABLE))


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


async def _node_id(app: web.Application) -> int:
    """This instance's message-id node: 0 embedded, a Redis counter in scale-out."""
    if REDIS_KEY not in app:
        return 0
    prefix = app[SETTINGS_KEY].redis_prefix
    return int(await app[REDIS_KEY].incr(f"{prefix}chat:node")) & MAX_NODE


def _counters(app: web.Application) -> tuple[Presence, LikeCounter]:
    if REDIS_KEY in app:
        from livemarket.chat.redis_presence import RedisLikes, RedisPresence

        prefix = app[SETTINGS_KEY].redis_prefix
        client = app[REDIS_KEY]
        return RedisPresence(client, prefix=prefix), RedisLikes(client, prefix=prefix)
    return InProcessPresence(), InProcessLikes()


async def _realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    sessions = app[SESSIONS_KEY]
    writer = ChatWriter(sessions)
    chat = ChatService(
        sessions, app[BUS_KEY], writer, ids=MessageIds(await _node_id(app)), clock=app[CLOCK_KEY]
    )
    presence, likes = _counters(app)
    realtime = RealtimeService(
        hub=Hub(asyncio.get_running_loop()),
        chat=chat,
        presence=presence,
        likes=likes,
        bus=app[BUS_KEY],
        sessions=sessions,
        clock=app[CLOCK_KEY],
    )
    app[REALTIME_KEY] = realtime
    writer.start()
    realtime.start()
    yield
    await realtime.close()
    await writer.close()
    await presence.close()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, before handlers are waited for: every socket gets 1001 (going away)."""
    if REALTIME_KEY in app:
        app[REALTIME_KEY].hub.close_all(1001, "server shutdown")


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/specials/{special_id}", websocket, name="realtime")
    app.cleanup_ctx.append(_realtime_ctx)
    app.on_shutdown.append(_close_sockets)
