"""Chat persistence: loading a room's state, and a batching writer for messages.

Posting never waits for the database: messages, deletions and pins are queued
and written by one task in batches (one transaction per ``flush``), in the
order they were queued, so a deletion never overtakes the insert it deletes.
Bans and room settings are rare and written at once by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus import catalogue
from livemarket.chat.models import ChatBan, ChatMessage, ChatRoom
from livemarket.storage.base import utcnow
from livemarket.tasks import TaskBoard, TaskHealth, backoff_s, cancel_and_wait, supervise

log = logging.getLogger(__name__)

#: How long shutdown keeps trying to write what is still queued.
CLOSE_WITHIN_S = 5.0


def message_event(row: ChatMessage) -> catalogue.Chat:
    """A stored message as the ``chat`` frame (plus the internal ``_author``)."""
    return catalogue.Chat(
        type=catalogue.CHAT,
        id=row.id,
        special_id=row.special_id,
        nickname=row.nickname,
        role=row.role,
        text=row.text,
        pinned=row.pinned,
        created_at=row.created_at.isoformat(),
        _author=row.author_key,
    )


@dataclass
class RoomState:
    """What a room needs from the database when it opens on an instance."""

    recent: list[catalogue.Chat] = field(default_factory=list)
    banned: set[str] = field(default_factory=set)
    slow_mode_s: int = 0
    pinned_message: catalogue.Chat | None = None


async def load_room(
    sessions: async_sessionmaker[AsyncSession], special_id: int, limit: int
) -> RoomState:
    """The last ``limit`` undeleted messages, the bans and the settings of a room."""
    async with sessions() as db:
        rows = (
            await db.scalars(
                select(ChatMessage)
                .where(ChatMessage.special_id == special_id, ChatMessage.deleted_at.is_(None))
                .order_by(ChatMessage.id.desc())
                .limit(limit)
            )
        ).all()
        banned = set(
            await db.scalars(select(ChatBan.author_key).where(ChatBan.special_id == special_id))
        )
        room = await db.get(ChatRoom, special_id)
        pinned = None
        if room is not None and room.pinned_message_id is not None:
            pinned_row = await db.get(ChatMessage, room.pinned_message_id)
            if pinned_row is not None and pinned_row.deleted_at is None:
                pinned = message_event(pinned_row)
    return RoomState(
        recent=[message_event(row) for row in reversed(rows)],
        banned=banned,
        slow_mode_s=room.slow_mode_s if room is not None else 0,
        pinned_message=pinned,
    )


async def find_message(
    sessions: async_sessionmaker[AsyncSession], special_id: int, message_id: int
) -> catalogue.Chat | None:
    async with sessions() as db:
        row = await db.get(ChatMessage, message_id)
    if row is None or row.special_id != special_id:
        return None
    return message_event(row)


async def save_ban(
    sessions: async_sessionmaker[AsyncSession],
    special_id: int,
    author_key: str,
    *,
    nickname: str,
    banned_by: int | None,
) -> None:
    """Record a ban (banning twice is not an error)."""
    with contextlib.suppress(IntegrityError):
        async with sessions.begin() as db:
            db.add(
                ChatBan(
                    special_id=special_id,
                    author_key=author_key,
                    nickname=nickname[:40],
                    banned_by=banned_by,
                )
            )


async def save_room_settings(
    sessions: async_sessionmaker[AsyncSession], special_id: int, **values: Any
) -> None:
    """Upsert the room's row (``slow_mode_s``, ``pinned_message_id``)."""
    async with sessions.begin() as db:
        room = await db.get(ChatRoom, special_id)
        if room is None:
            room = ChatRoom(special_id=special_id, slow_mode_s=0)
            db.add(room)
        for name, value in values.items():
            setattr(room, name, value)


class ChatWriter:
    """Writes queued messages and updates in batches, from one supervised task it owns.

    Nothing accepted is lost while the database is away: a batch that fails goes back
    to the head of the queue and the loop raises, so the supervisor retries it with
    backoff. The queue is bounded at admission: :meth:`has_room` is asked before a
    message is sent, and the chat refuses (``chat_unavailable``) rather than accept
    what could not be kept; those refusals are counted as the loop's ``overflow``.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        delay_s: float = 0.2,
        max_queue: int = 200_000,
        board: TaskBoard | None = None,
    ) -> None:
        self._sessions = sessions
        self._delay_s = delay_s
        self._max_queue = max_queue
        self._board = board
        self._queue: list[tuple[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.health = TaskHealth("chat-writer")

    def has_room(self) -> bool:
        """False while the queue is full: the caller must refuse rather than queue more."""
        if len(self._queue) < self._max_queue:
            return True
        self.health.overflow += 1
        if self.health.overflow % 1000 == 1:
            log.error(
                "chat writer queue full (%d changes waiting for the database): %d refused so far",
                len(self._queue),
                self.health.overflow,
            )
        return False

    def add(self, event: Mapping[str, Any], created_at: datetime) -> None:
        self._put(
            "insert",
            {
                "id": event["id"],
                "special_id": event["special_id"],
                "author_key": str(event["_author"])[:64],
                "nickname": str(event["nickname"])[:40],  # staff display names run to 80
                "role": event["role"],
                "text": event["text"],
                "pinned": False,
                "created_at": created_at,
            },
        )

    def delete(self, message_id: int) -> None:
        self._put("delete", message_id)

    def pin(self, message_id: int) -> None:
        self._put("pin", message_id)

    def _put(self, kind: str, item: Any) -> None:
        self._queue.append((kind, item))
        self.health.backlog = len(self._queue)
        self._wake.set()

    def start(self) -> None:
        self._task = supervise("chat-writer", self._run, board=self._board, health=self.health)

    async def close(self, *, within_s: float = CLOSE_WITHIN_S) -> None:
        """Stop the task and write what is still queued (trying for ``within_s``)."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        failures = 0
        while self._queue and (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):  # a hung connect must not hang shutdown
                    await self.flush()
            except Exception:
                failures += 1
                await asyncio.sleep(min(backoff_s(failures), max(deadline - loop.time(), 0)))
        if self._queue:
            log.error(
                "chat writer lost %d changes at shutdown: the database did not answer",
                len(self._queue),
            )

    async def _run(self, health: TaskHealth) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._delay_s)
            await self.flush()
            health.ok()

    async def flush(self) -> None:
        """Write everything queued so far in one transaction.

        On any failure but a refused row (the database away, a dropped connection:
        asyncpg raises a bare ``OSError`` on connect), or a cancellation, the changes not
        written go back to the head of the queue, in order, and the error propagates.
        """
        self._wake.clear()
        batch, self._queue = self._queue, []
        done = 0
        try:
            try:
                async with self._sessions.begin() as db:
                    await _write(db, batch)
                done = len(batch)
            except (IntegrityError, DataError):
                # A row the database refuses (its special was deleted meanwhile, or a
                # retried batch that had committed after all) must not block the
                # others: write one by one and drop only the refused ones.
                for change in batch:
                    try:
                        async with self._sessions.begin() as db:
                            await _write(db, [change])
                    except (IntegrityError, DataError):
                        log.warning(
                            "chat writer dropped a change the database refused: %s", change[0]
                        )
                    done += 1
        finally:
            if done < len(batch):
                self._queue[:0] = batch[done:]
                self._wake.set()
            self.health.backlog = len(self._queue)


async def _write(db: AsyncSession, batch: list[tuple[str, Any]]) -> None:
    """Apply the batch in order, grouping runs of the same kind into one statement."""
    start = 0
    while start < len(batch):
        kind = batch[start][0]
        end = start
        while end < len(batch) and batch[end][0] == kind:
            end += 1
        items = [item for _, item in batch[start:end]]
        if kind == "insert":
            await db.execute(insert(ChatMessage), items)
        elif kind == "delete":
            await db.execute(
                update(ChatMessage).where(ChatMessage.id.in_(items)).values(deleted_at=utcnow())
            )
        else:
            await db.execute(
                update(ChatMessage).where(ChatMessage.id.in_(items)).values(pinned=True)
            )
        start = end
