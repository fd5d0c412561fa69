"""The chat service: rules, ids, persistence and the bus around each room.

Every change is published on the special's bus topic and applied to each
instance's room state by :meth:`ChatService.observe` when it comes back from
the bus, so all instances (and the gateway's ``hello`` snapshots) agree.
Fields whose name starts with ``_`` (the author's session key) stay between
instances; :func:`public` removes them before anything reaches a browser.

The per-person rate limit and slow mode: embedded (no ``pacer``) they are
counted in memory by the room's rules, with no I/O. In scale-out one person's
tabs may hold sockets on several instances (``serve --workers N`` spreads them
over one port), so per-instance counting would give them N times the rate: the
gateway passes a :class:`Pacer` (``redis_pace.RedisPace``) and each viewer's
post costs one Redis round trip (one atomic script) that counts their sends over
every instance. The content rules (ban, length, words) stay local either way,
and staff, who are not paced, never reach Redis. A pacer that cannot answer
refuses the message (``chat_unavailable``) rather than let it through unpaced.

A message's fate is one thing on every instance: it is kept (queued for the
database) only once the bus took it, so it reaches every instance's viewers and
history; if the bus did not take it, or the database's queue is full, the sender
gets ``chat_unavailable`` and nothing of it is kept. Moderation changes follow
the same order: published first, then persisted.

A publish can fail after Redis took it (the reply lost with the connection, or a
client timeout while Redis stalled). So a failed message waits up to
``ECHO_WAIT_S`` for its own copy to come back through the bus: if it does, it was
delivered, and it is kept and reported sent. If it comes back only later (Redis
stalled longer than that), it has reached the viewers: it is kept then too, so
history never lacks what viewers saw, and the sender, who was told it failed,
may post it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.bus import catalogue
from livemarket.bus.events import EventBus, special_topic
from livemarket.chat import store
from livemarket.chat.history import HISTORY_SIZE, RecentMessages
from livemarket.chat.ids import IdSource
from livemarket.chat.rules import Author, ChatLimits, PaceRule, RoomRules, unavailable
from livemarket.chat.wordfilter import WordFilter
from livemarket.errors import Conflict, DomainError, Forbidden, NotFound

log = logging.getLogger(__name__)

#: How long a message whose publish failed waits for its own copy from the bus.
ECHO_WAIT_S = 2.0
#: Refused messages remembered in case their copy comes back late.
LATE_MEMORY = 1000


def public(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event without its instance-internal (``_``-prefixed) fields."""
    return {k: v for k, v in event.items() if not k.startswith("_")}


class Pacer(Protocol):
    """Paces one person's sends in a room somewhere all instances share."""

    async def take(self, special_id: int, author_key: str, rule: PaceRule) -> None:
        """Record a send now or raise the rule's refusal (or ``chat_unavailable``)."""
        ...


@dataclass
class _Room:
    rules: RoomRules
    recent: RecentMessages
    pinned: Mapping[str, Any] | None


class ChatService:
    """Posts and moderates chat in the rooms open on this instance."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        writer: store.ChatWriter,
        *,
        ids: IdSource,
        clock: Callable[[], datetime],
        limits: ChatLimits | None = None,
        words: WordFilter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        pacer: Pacer | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._writer = writer
        self._ids = ids
        self._clock = clock
        self._limits = limits or ChatLimits()
        self._words = words or WordFilter()
        self._monotonic = monotonic
        self._pacer = pacer
        #: Messages accepted, and refused by code (read by ``/metrics``; plain counts).
        self.accepted = 0
        self.refused: Counter[str] = Counter()
        self._rooms: dict[int, _Room] = {}
        self._opening: dict[int, asyncio.Future[None]] = {}
        #: Messages whose publish failed, by id: waiting for their copy from the bus, or
        #: refused (then kept if the copy still comes).
        self._echoes: dict[int, asyncio.Future[None]] = {}
        self._refused: dict[int, tuple[Mapping[str, Any], datetime]] = {}

    # -- room lifecycle -----------------------------------------------------
    async def open_room(self, special_id: int) -> None:
        """Load the room's history, bans and settings once (concurrent callers share it)."""
        if special_id in self._rooms:
            return
        pending = self._opening.get(special_id)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opening[special_id] = future
        try:
            state = await store.load_room(self._sessions, special_id, HISTORY_SIZE)
            self._rooms[special_id] = _Room(
                RoomRules(
                    self._limits, self._words, banned=state.banned, slow_mode_s=state.slow_mode_s
                ),
                RecentMessages(state.recent),
                state.pinned_message,
            )
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._opening[special_id]

    def close_room(self, special_id: int) -> None:
        """Forget a room no one on this instance watches any more."""
        self._rooms.pop(special_id, None)

    def _room(self, special_id: int) -> _Room:
        room = self._rooms.get(special_id)
        if room is None:
            raise NotFound("chat_room_closed", "This chat room is not open.")
        return room

    # -- snapshot -----------------------------------------------------------
    def recent(self, special_id: int) -> list[dict[str, Any]]:
        return [public(m) for m in self._room(special_id).recent.snapshot()]

    def pinned(self, special_id: int) -> dict[str, Any] | None:
        pinned = self._room(special_id).pinned
        return public(pinned) if pinned is not None else None

    def slow_mode(self, special_id: int) -> int:
        return self._room(special_id).rules.slow_mode_s

    def is_banned(self, special_id: int, author_key: str) -> bool:
        return self._room(special_id).rules.is_banned(author_key)

    # -- posting --------------------------------------------------------------
    async def post(self, special_id: int, author: Author, text: str) -> catalogue.Chat:
        """Check, persist (queued) and publish a message; raises DomainError with the reason."""
        try:
            event = await self._post(special_id, author, text)
        except DomainError as refusal:
            self.refused[refusal.code] += 1
            raise
        self.accepted += 1
        return event

    async def _post(self, special_id: int, author: Author, text: str) -> catalogue.Chat:
        room = self._room(special_id)
        if self._pacer is None:
            cleaned = room.rules.check(author, text, self._monotonic())
        else:
            cleaned = room.rules.check(author, text, 0.0, pace=False)
            if room.rules.paces(author):
                await self._pacer.take(special_id, author.key, room.rules.pace)
        if not self._writer.has_room():
            raise unavailable()
        created_at = self._clock()
        event = catalogue.Chat(
            type=catalogue.CHAT,
            id=self._ids.next(),
            special_id=special_id,
            nickname=author.nickname,
            role=author.role,
            text=cleaned,
            pinned=False,
            created_at=created_at.isoformat(),
            _author=author.key,
        )
        try:
            await self._publish(special_id, event)
        except DomainError:
            if not await self._came_back(event, created_at):
                raise
        self._writer.add(event, created_at)
        return event

    async def _came_back(self, event: Mapping[str, Any], created_at: datetime) -> bool:
        """After a failed publish: True if the message's copy arrives from the bus within
        ``ECHO_WAIT_S`` (Redis took it after all); else it is remembered as refused."""
        message_id = int(event["id"])
        echo = self._echoes[message_id] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(ECHO_WAIT_S):
                await echo
            return True
        except TimeoutError:
            self._refused[message_id] = (event, created_at)
            while len(self._refused) > LATE_MEMORY:
                del self._refused[next(iter(self._refused))]
            return False
        finally:
            del self._echoes[message_id]

    async def _publish(self, special_id: int, event: Mapping[str, Any]) -> None:
        """Publish a chat change, or refuse it as ``chat_unavailable`` if the bus failed."""
        try:
            await self._bus.publish(special_topic(special_id), event)
        except Exception as exc:  # Redis away: it went nowhere, so nothing is kept
            raise unavailable() from exc

    # -- moderation ---------------------------------------------------------
    async def _message(self, special_id: int, message_id: int) -> Mapping[str, Any]:
        found = self._room(special_id).recent.find(message_id)
        if found is None:
            found = await store.find_message(self._sessions, special_id, message_id)
        if found is None:
            raise NotFound("chat_message_not_found", "No such message in this chat.")
        return found

    async def delete(self, special_id: int, message_id: int, by: Author) -> None:
        """Delete a message for everyone."""
        _require_staff(by)
        await self._message(special_id, message_id)
        if not self._writer.has_room():
            raise unavailable()
        await self._publish(
            special_id,
            catalogue.ChatDeleted(
                type=catalogue.CHAT_DELETED, special_id=special_id, id=message_id
            ),
        )
        self._writer.delete(message_id)

    async def ban(
        self, special_id: int, message_id: int, by: Author, *, by_user_id: int | None
    ) -> str:
        """Ban the author of a message from this room's chat; returns their key."""
        _require_staff(by)
        message = await self._message(special_id, message_id)
        if message.get("role") in ("host", "operator"):
            raise Conflict("chat_ban_staff", "Hosts and operators cannot be banned.")
        author_key = str(message["_author"])
        await store.save_ban(
            self._sessions,
            special_id,
            author_key,
            nickname=str(message["nickname"]),
            banned_by=by_user_id,
        )
        await self._bus.publish(
            special_topic(special_id),
            catalogue.ChatBanned(
                type=catalogue.CHAT_BANNED,
                special_id=special_id,
                nickname=message["nickname"],
                _author=author_key,
            ),
        )
        return author_key

    async def set_slow_mode(self, special_id: int, seconds: int, by: Author) -> None:
        """Turn slow mode on (seconds between a viewer's messages) or off (0)."""
        _require_staff(by)
        self._room(special_id).rules.set_slow_mode(seconds)  # validates before saving
        await store.save_room_settings(self._sessions, special_id, slow_mode_s=seconds)
        await self._bus.publish(
            special_topic(special_id),
            catalogue.ChatMode(
                type=catalogue.CHAT_MODE, special_id=special_id, slow_mode_s=seconds
            ),
        )

    async def pin(self, special_id: int, message_id: int, by: Author) -> None:
        """Pin a message above the chat for everyone."""
        _require_staff(by)
        message = await self._message(special_id, message_id)
        await store.save_room_settings(self._sessions, special_id, pinned_message_id=message_id)
        await self._publish(
            special_id,
            {
                "type": catalogue.CHAT_PINNED,
                "special_id": special_id,
                "message": {**public(message), "pinned": True},
            },
        )
        self._writer.pin(message_id)

    # -- applying events from the bus --------------------------------------
    def observe(self, special_id: int, event: Mapping[str, Any]) -> bool:
        """Apply a chat event of the special's topic to this instance's room state.

        False for a message already here: a publish the Redis client retried after a
        lost reply arrives twice, and viewers must see it once.
        """
        room = self._rooms.get(special_id)
        if room is None:
            return True
        kind = event.get("type")
        if kind == catalogue.CHAT:
            if room.recent.find(event["id"]) is not None:
                return False
            room.recent.add(event)
            self._echoed(int(event["id"]))
        elif kind == catalogue.CHAT_DELETED:
            room.recent.remove(int(event["id"]))
            if room.pinned is not None and room.pinned.get("id") == event["id"]:
                room.pinned = None
        elif kind == catalogue.CHAT_BANNED:
            room.rules.ban(str(event["_author"]))
        elif kind == catalogue.CHAT_MODE:
            room.rules.set_slow_mode(int(event["slow_mode_s"]))
        elif kind == catalogue.CHAT_PINNED:
            room.pinned = event["message"]
        return True

    def _echoed(self, message_id: int) -> None:
        echo = self._echoes.get(message_id)
        if echo is not None and not echo.done():
            echo.set_result(None)
        late = self._refused.pop(message_id, None)
        if late is not None:
            log.warning(
                "chat message %d, refused to its sender, reached viewers late: kept", message_id
            )
            self._writer.add(*late)


def _require_staff(by: Author) -> None:
    if not by.is_staff:
        raise Forbidden("chat_not_moderator", "Only the host or an operator may moderate.")
