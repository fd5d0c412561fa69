"""Realtime: chat, presence and likes, the rooms' fan-out and the sockets' upkeep.

In scale-out, chat message ids come from a node leased in the database and the
counters and chat pacing live in Redis; embedded, everything is in process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from livemarket.chat.ids import IdSource, LeasedIds, MessageIds
from livemarket.chat.nodes import NodeLease
from livemarket.chat.presence import InProcessLikes, InProcessPresence, LikeCounter, Presence
from livemarket.chat.service import ChatService, Pacer
from livemarket.chat.store import ChatWriter
from livemarket.realtime.admission import SocketSeats
from livemarket.realtime.fanout import Hub
from livemarket.realtime.sender import ParallelSender
from livemarket.realtime.service import RealtimeService
from livemarket.tasks import cancel_and_wait, supervise
from livemarket.web.realtime import gateway
from livemarket.web.realtime.gateway import SOCKETS_KEY, Sockets
from livemarket.web.typedefs import (
    BUS_KEY,
    CLOCK_KEY,
    REALTIME_KEY,
    REDIS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    TASKS_KEY,
)

log = logging.getLogger(__name__)


def _counters(app: web.Application) -> tuple[Presence, LikeCounter]:
    if REDIS_KEY in app:
        from livemarket.chat.redis_presence import RedisLikes, RedisPresence

        prefix = app[SETTINGS_KEY].redis_prefix
        client = app[REDIS_KEY]
        return RedisPresence(client, prefix=prefix), RedisLikes(client, prefix=prefix)
    return InProcessPresence(), InProcessLikes()


async def realtime(app: web.Application) -> AsyncIterator[None]:
    """Chat (its writer and id lease), presence and likes, the rooms, and the sockets."""
    sessions = app[SESSIONS_KEY]
    board = app[TASKS_KEY]
    writer = ChatWriter(sessions, board=board)
    pacer: Pacer | None = None
    if REDIS_KEY in app:  # one person's sockets may be on several instances: pace in Redis
        from livemarket.chat.redis_pace import RedisPace

        pacer = RedisPace(app[REDIS_KEY], prefix=app[SETTINGS_KEY].redis_prefix)
    lease = await _id_lease(app)
    ids: IdSource = MessageIds(0) if lease is None else LeasedIds(lease.current)
    chat = ChatService(
        sessions,
        app[BUS_KEY],
        writer,
        ids=ids,
        clock=app[CLOCK_KEY],
        pacer=pacer,
    )
    presence, likes = _counters(app)
    configured = app[SETTINGS_KEY].fanout_send_threads
    # Read at start-up, not import: the fan-out bench sets ``gateway.SEND_WORKERS``.
    workers = gateway.SEND_WORKERS if configured is None else configured
    sender = ParallelSender(max(workers, 0))
    service = RealtimeService(
        hub=Hub(asyncio.get_running_loop(), sender=sender if workers >= 0 else None),
        chat=chat,
        presence=presence,
        likes=likes,
        bus=app[BUS_KEY],
        sessions=sessions,
        clock=app[CLOCK_KEY],
    )
    app[REALTIME_KEY] = service
    sockets = app[SOCKETS_KEY] = Sockets(service, SocketSeats.from_settings(app[SETTINGS_KEY]))
    sender.start()
    writer.start()
    lease_task = None if lease is None else supervise("chat-id-lease", lease.run, board=board)
    service.start(board)
    sockets.start(board)
    yield
    await service.close()
    await sockets.close()
    sender.close()
    await writer.close()
    if lease is not None and lease_task is not None:
        await cancel_and_wait([lease_task])
        await lease.release()
    await presence.close()


async def close_sockets(app: web.Application) -> None:
    """On shutdown, before handlers are waited for: every socket gets 1001 (going away)."""
    if REALTIME_KEY in app:
        app[REALTIME_KEY].hub.close_all(1001, "server shutdown")


async def _id_lease(app: web.Application) -> NodeLease | None:
    """In scale-out, this instance's id node leased in the database (embedded: node 0).

    The first claim is tried now; if the database does not answer, the lease's loop
    claims it later and chat is refused (``chat_unavailable``) until then.
    """
    if REDIS_KEY not in app:
        return None
    lease = NodeLease(app[SESSIONS_KEY])
    try:
        async with asyncio.timeout(5):
            await lease.keep()
    except Exception:
        log.warning("chat: no id node leased at start-up; retrying", exc_info=True)
    return lease
