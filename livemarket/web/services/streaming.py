"""Streaming: the relay directory and registry (WHIP/WHEP), then simulcast on top.

Every relay state change goes to the special's realtime topic as ``stream.status``
and to each of ``STREAM_LISTENERS_KEY`` (the simulcast manager starts and stops
pushes from there); simulcast status changes go out as ``simulcast.status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from livemarket.bus import catalogue
from livemarket.bus.events import special_topic
from livemarket.errors import DomainError
from livemarket.simulcast.keys import StreamKeyBox
from livemarket.simulcast.manager import SimulcastManager
from livemarket.streamer.directory import LocalDirectory, RedisDirectory, RelayDirectory
from livemarket.streamer.registry import RelayRegistry
from livemarket.streamer.relay import RECONNECTING
from livemarket.tasks import TaskHealth, cancel_and_wait, supervise
from livemarket.web.typedefs import (
    BUS_KEY,
    DIRECTORY_KEY,
    REDIS_KEY,
    RELAYS_KEY,
    SECRET_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    SIMULCAST_BOX_KEY,
    SIMULCAST_KEY,
    STREAM_LISTENERS_KEY,
    TASKS_KEY,
)

logger = logging.getLogger(__name__)


def _directory(app: web.Application) -> RelayDirectory:
    settings = app[SETTINGS_KEY]
    if REDIS_KEY in app:
        return RedisDirectory(
            app[REDIS_KEY],
            settings.redis_prefix,
            ttl_s=settings.relay_claim_ttl_s,
            lease_s=settings.relay_owner_lease_s,
        )
    return LocalDirectory()


async def _move_strays(registry: RelayRegistry, directory: RelayDirectory) -> None:
    """Hang up local viewers of a special whose relay another instance now holds.

    Their players reconnect and follow the 307 to the owner (see the directory).
    """
    for special_id in list(registry.figures()):
        relay = registry.find(special_id)
        if relay is None or not relay.viewer_count or directory.holds(special_id):
            continue
        if await directory.owner(special_id) is None:
            continue
        for session_id in relay.viewer_sessions:
            with contextlib.suppress(DomainError):
                await relay.end_viewer(session_id)


async def _heartbeat(
    registry: RelayRegistry, directory: RelayDirectory, health: TaskHealth
) -> None:
    """Refresh this instance's claims; Redis down raises and the supervisor retries, and a
    retry refreshes at once (the claims' liveness must not wait a beat more)."""
    while True:
        await directory.refresh()
        await _move_strays(registry, directory)
        health.ok()
        await asyncio.sleep(directory.refresh_interval_s)


async def relays(app: web.Application) -> AsyncIterator[None]:
    """The relay directory and registry, and the heartbeat keeping this instance's claims."""
    tasks: set[asyncio.Task[None]] = set()
    directory = _directory(app)
    app[DIRECTORY_KEY] = directory

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def announce(special_id: int, state: str) -> None:
        event = catalogue.StreamStatus(
            type=catalogue.STREAM_STATUS, special_id=special_id, state=state
        )
        spawn(app[BUS_KEY].publish(special_topic(special_id), event))
        for listener in app[STREAM_LISTENERS_KEY]:
            listener(special_id, state)
        if state == RECONNECTING:
            # The host may come back on any instance: free the special for it. (An
            # ended publisher is released by ``whip_end`` itself, before it answers.)
            spawn(directory.release(special_id))

    registry = RelayRegistry.from_settings(app[SETTINGS_KEY], on_state=announce)
    app[RELAYS_KEY] = registry
    heartbeat = supervise(
        "relay-heartbeat",
        lambda health: _heartbeat(registry, directory, health),
        board=app[TASKS_KEY],
        base_s=0.1,
        cap_s=directory.refresh_interval_s,  # never slower than the beat the claims expect
    )
    yield
    await cancel_and_wait([heartbeat])
    await registry.close()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    await directory.close()


async def simulcast(app: web.Application) -> AsyncIterator[None]:
    """The simulcast manager, listening to the relays (it stops before them)."""

    async def announce(special_id: int, status: dict[str, Any]) -> None:
        try:
            event = {"type": catalogue.SIMULCAST_STATUS, **status}
            await app[BUS_KEY].publish(special_topic(special_id), event)
        except Exception:  # the bus down for a moment: the next change tells again
            logger.exception("simulcast status of special %s not announced", special_id)

    manager = SimulcastManager(
        app[SESSIONS_KEY],
        app[SIMULCAST_BOX_KEY],
        find_relay=lambda special_id: app[RELAYS_KEY].find(special_id),
        announce=announce,
    )
    app[SIMULCAST_KEY] = manager
    app[STREAM_LISTENERS_KEY].append(manager.on_stream_state)
    yield
    app[STREAM_LISTENERS_KEY].remove(manager.on_stream_state)
    await manager.close()


def provide(app: web.Application) -> None:
    """Before anything starts: the relays' listener list (simulcast adds itself) and the box
    sealing the destinations' stream keys."""
    app[STREAM_LISTENERS_KEY] = []
    app[SIMULCAST_BOX_KEY] = StreamKeyBox(app[SECRET_KEY])
