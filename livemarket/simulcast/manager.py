"""Starts and stops each special's simulcast as its stream goes live and ends.

The relay reports its state (live / reconnecting / ended); on ``live`` the
special's enabled destinations are read and a :class:`SpecialSimulcast` is
attached to the relay as a frame sink; ``reconnecting`` keeps it (the host may
come back); ``ended`` stops it. Status changes are announced through
``announce`` (the special's realtime topic), at most a few times a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.simulcast.keys import StreamKeyBox
from livemarket.simulcast.service import destinations_for_special
from livemarket.simulcast.session import SpecialSimulcast, Target

logger = logging.getLogger(__name__)


class RelayLike(Protocol):
    """What the manager needs of a relay: its frame sinks and the video codec."""

    sinks: list[Any]

    def codec(self, kind: str) -> Any: ...

    def request_keyframe(self) -> None: ...


class SimulcastManager:
    """Owns every running special simulcast; ``close`` stops them all."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: StreamKeyBox,
        *,
        find_relay: Callable[[int], RelayLike | None],
        announce: Callable[[int, dict[str, Any]], Awaitable[None]],
        backoff_steps: tuple[float, ...] | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._find_relay = find_relay
        self._announce = announce
        self._backoff = backoff_steps
        self._running: dict[int, SpecialSimulcast] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dirty: set[int] = set()

    def on_stream_state(self, special_id: int, state: str) -> None:
        """The relay's state listener (loop thread): start on live, stop on ended."""
        if state == "live":
            self._spawn(self.start(special_id))
        elif state == "ended":
            self._spawn(self.stop(special_id))

    def status(self, special_id: int) -> dict[str, Any] | None:
        running = self._running.get(special_id)
        return running.status() if running else None

    def all_status(self) -> list[dict[str, Any]]:
        return [running.status() for running in self._running.values()]

    async def start(self, special_id: int) -> None:
        async with self._lock:
            if special_id in self._running:
                return  # a host reconnecting: the same push goes on
            relay = self._find_relay(special_id)
            if relay is None:
                return
            targets = await self._targets(special_id)
            if not targets:
                return
            running = SpecialSimulcast(
                special_id,
                targets,
                video_codec=relay.codec("video").mime_type,
                on_change=self._changed,
                request_keyframe=relay.request_keyframe,
                backoff_steps=self._backoff,
            )
            self._running[special_id] = running
            relay.sinks.append(running)
            self._changed(running)

    async def stop(self, special_id: int) -> None:
        async with self._lock:
            running = self._running.pop(special_id, None)
            if running is None:
                return
            relay = self._find_relay(special_id)
            if relay is not None and running in relay.sinks:
                relay.sinks.remove(running)
            await running.stop()
            await self._announce(special_id, running.status())

    async def _targets(self, special_id: int) -> list[Target]:
        async with self._sessions() as db:
            found = await destinations_for_special(db, special_id)
        targets = []
        for destination in found:
            try:
                key = self._box.open(destination.key_cipher)
            except Exception:
                logger.warning("simulcast destination %s: stream key unreadable", destination.id)
                continue
            targets.append(Target(destination.id, destination.name, destination.url, key))
        return targets

    def _changed(self, running: SpecialSimulcast) -> None:
        # Coalesced: many state changes in one loop turn make one announcement.
        if running.special_id in self._dirty:
            return
        self._dirty.add(running.special_id)
        self._spawn(self._announce_soon(running))

    async def _announce_soon(self, running: SpecialSimulcast) -> None:
        await asyncio.sleep(0.2)
        self._dirty.discard(running.special_id)
        await self._announce(running.special_id, running.status())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every simulcast (server shutdown)."""
        for special_id in list(self._running):
            await self.stop(special_id)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
