"""This instance's message-id node, leased in the database.

Ids embed a node number (``ids.py``) so that two instances never mint the same
id. Redis once handed nodes out with ``INCR``; after a Redis restart the counter
began again at 1 and a new instance minted with a node still in use. The lease
lives in the database instead (rows 0..63 of ``chat_id_nodes``): an instance
claims a node whose lease expired, renews it every ``RENEW_EVERY_S``, and mints
only while its own reckoning says the lease has ``SAFETY_S`` left, so a node is
taken over only after its holder stopped minting with it (clock skew between
instances must stay under ``SAFETY_S``). A clean shutdown frees the node at once;
a killed instance's node is free after ``LEASE_S``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.chat.models import ChatIdNode
from livemarket.tasks import TaskHealth

log = logging.getLogger(__name__)

LEASE_S = 120.0
RENEW_EVERY_S = 10.0
SAFETY_S = 30.0


class NoFreeNode(RuntimeError):
    """Every node is leased by a live instance (more than 64 at once)."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class NodeLease:
    """Claims, renews and frees one node; :meth:`current` says whether ids may be minted."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_s: float = LEASE_S,
        safety_s: float = SAFETY_S,
        wall_ms: Callable[[], int] = _wall_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._lease_s = lease_s
        self._safety_s = safety_s
        self._wall_ms = wall_ms
        self._monotonic = monotonic
        self.holder = uuid.uuid4().hex
        self.node: int | None = None
        self._valid_until = 0.0

    def current(self) -> int | None:
        """The node to mint with now, or ``None`` while no lease can be trusted."""
        if self.node is None or self._monotonic() >= self._valid_until:
            return None
        return self.node

    async def keep(self) -> int:
        """Renew the node held, or claim a free one; raises if the database does not answer."""
        started = self._monotonic()
        now_ms = self._wall_ms()
        until_ms = now_ms + round(self._lease_s * 1000)
        async with self._sessions.begin() as db:
            if self.node is not None and not await self._renew(db, until_ms):
                log.warning(
                    "chat id node %d was lost (its lease ran out); claiming another", self.node
                )
                self.node = None
            if self.node is None:
                self.node = await self._claim(db, now_ms, until_ms)
        self._valid_until = started + self._lease_s - self._safety_s
        return self.node

    async def _renew(self, db: AsyncSession, until_ms: int) -> bool:
        result: Any = await db.execute(
            update(ChatIdNode)
            .where(ChatIdNode.node == self.node, ChatIdNode.holder == self.holder)
            .values(expires_ms=until_ms)
        )
        return bool(result.rowcount == 1)

    async def _claim(self, db: AsyncSession, now_ms: int, until_ms: int) -> int:
        free = (
            await db.scalars(
                select(ChatIdNode.node)
                .where(ChatIdNode.expires_ms < now_ms)
                .order_by(ChatIdNode.expires_ms, ChatIdNode.node)
            )
        ).all()
        for node in free:
            # Two instances may pick the same free node: the second one's update finds
            # the lease no longer expired and changes nothing.
            result: Any = await db.execute(
                update(ChatIdNode)
                .where(ChatIdNode.node == node, ChatIdNode.expires_ms < now_ms)
                .values(holder=self.holder, expires_ms=until_ms)
            )
            if result.rowcount == 1:
                return int(node)
        raise NoFreeNode("every chat id node is leased")

    async def run(self, health: TaskHealth) -> None:
        """Keep the lease for as long as the instance runs (a supervised loop)."""
        while True:
            await self.keep()
            health.ok()
            await asyncio.sleep(RENEW_EVERY_S)

    async def release(self) -> None:
        """Free the node for the next instance (at shutdown; the database may be away)."""
        if self.node is None:
            return
        self._valid_until = 0.0
        try:
            async with self._sessions.begin() as db:
                await db.execute(
                    update(ChatIdNode)
                    .where(ChatIdNode.node == self.node, ChatIdNode.holder == self.holder)
                    .values(holder="", expires_ms=0)
                )
        except Exception:  # it expires by itself
            log.warning("could not free chat id node %d; it expires by itself", self.node)
        self.node = None
