"""The realtime service: which rooms are open here, their snapshot, the bus and the timers.

A room opens on this instance when its first viewer connects (the special is
loaded, the chat history read, the bus topic subscribed) and closes when the
last one leaves. Every event of ``special_topic(id)`` — from chat, checkout,
the calendar or another instance — updates the room's snapshot and is fanned
out to the room's sockets. Viewer counts and like totals are pushed by one
timer task at a bounded rate, never per join or per click.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.roles import Principal, can_run_special
from livemarket.bus import catalogue
from livemarket.bus.events import EventBus, Subscription, special_topic
from livemarket.chat.likes import LikeTally
from livemarket.chat.presence import LikeCounter, Presence
from livemarket.chat.service import ChatService, public
from livemarket.checkout.models import Product
from livemarket.errors import DomainError, NotFound
from livemarket.realtime.fanout import Connection, Hub, error_event
from livemarket.realtime.frames import encode
from livemarket.scheduler.events import viewer_topic
from livemarket.scheduler.models import Special
from livemarket.scheduler.pins import pinned_view
from livemarket.tasks import TaskBoard, TaskHealth, cancel_and_wait, supervise

log = logging.getLogger(__name__)

ActiveDeals = Callable[[int], Awaitable[list[catalogue.DealStarted]]]
COUNTS_INTERVAL_S = 1.0
LIKES_INTERVAL_S = 0.5
#: How long one answer of the active-deals provider serves the viewers joining a room.
DEALS_TTL_S = 1.0


async def no_deals(_special_id: int) -> list[catalogue.DealStarted]:
    """The default provider until checkout registers one."""
    return []


@dataclass
class Viewer:
    """Who holds a connection."""

    principal: Principal

    @property
    def key(self) -> str:
        return self.principal.viewer_key


@dataclass
class RoomInfo:
    """The parts of a special's snapshot the gateway keeps current from the bus."""

    special_id: int
    host_id: int
    status: str
    pinned_product: catalogue.ProductView | None
    users: int = 0
    subscription: Subscription | None = None
    viewers_sent: int = -1
    likes: int = 0
    likes_sent: int = -1
    ready: asyncio.Future[None] | None = field(default=None, repr=False)
    deals: list[catalogue.DealStarted] | None = field(default=None, repr=False)
    deals_until: float = 0.0
    deals_generation: int = 0
    deals_loading: asyncio.Task[list[catalogue.DealStarted]] | None = field(
        default=None, repr=False
    )


class RealtimeService:
    """Rooms open on this instance, fed from the bus; owned by the app's cleanup context."""

    def __init__(
        self,
        *,
        hub: Hub,
        chat: ChatService,
        presence: Presence,
        likes: LikeCounter,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
    ) -> None:
        self.hub = hub
        self.chat = chat
        self.presence = presence
        self.likes = likes
        self.bus = bus
        self.sessions = sessions
        self.clock = clock
        self.tally = LikeTally()
        #: Error frames sent, by code (read by ``/metrics``).
        self.refusals: Counter[str] = Counter()
        self.rooms: dict[int, RoomInfo] = {}
        self._timer: asyncio.Task[None] | None = None
        #: Per viewer key: one bus subscription for events meant only for that person
        #: (a reminder), and the (special, socket) pairs it reaches on this instance.
        self._personal: dict[str, tuple[Subscription, set[tuple[int, Connection]]]] = {}

    # -- rooms ----------------------------------------------------------------
    async def open(self, special_id: int) -> RoomInfo:
        """Open (or join) the special's room here; NotFound when there is no such special."""
        info = self.rooms.get(special_id)
        if info is None:
            async with self.sessions() as db:
                special = await db.get(Special, special_id)
                if special is None:
                    raise NotFound("special_not_found", "No such special.")
                pinned = None
                if special.pinned_product_id is not None:
                    product = await db.get(Product, special.pinned_product_id)
                    pinned = pinned_view(product) if product is not None else None
            info = self.rooms.get(special_id)  # another viewer may have opened it meanwhile
            if info is None:
                info = RoomInfo(special_id, special.host_id, special.status, pinned)
                info.ready = asyncio.get_running_loop().create_future()
                self.rooms[special_id] = info
                try:
                    await self.chat.open_room(special_id)
                    info.likes = await self.likes.total(special_id)
                    info.subscription = self.bus.subscribe(
                        special_topic(special_id), self._on_event
                    )
                    await self.bus.ready()
                except BaseException as exc:
                    del self.rooms[special_id]
                    info.ready.set_exception(exc)
                    info.ready.exception()
                    raise
                info.ready.set_result(None)
        info.users += 1
        try:
            if info.ready is not None and not info.ready.done():
                await asyncio.shield(info.ready)
        except BaseException:
            info.users -= 1
            raise
        return info

    def release(self, info: RoomInfo) -> None:
        """One user of the room fewer; the last one closes it on this instance."""
        info.users -= 1
        if info.users > 0 or self.rooms.get(info.special_id) is not info:
            return
        del self.rooms[info.special_id]
        if info.deals_loading is not None:
            info.deals_loading.cancel()
        if info.subscription is not None:
            info.subscription.close()
        self.chat.close_room(info.special_id)
        self.hub.discard_if_empty(info.special_id)

    async def active_deals(
        self, info: RoomInfo, provider: ActiveDeals
    ) -> list[catalogue.DealStarted]:
        """The room's active deals for ``hello``.

        Viewers join in waves (a special starts, a link is shared): one provider query
        answers everyone joining within ``DEALS_TTL_S``, and a ``deal.*`` or ``stock``
        event on the room drops the answer, so a snapshot is never older than the
        events the room already fanned out. A failing provider costs only the list.
        """
        loop = asyncio.get_running_loop()
        if info.deals is not None and loop.time() < info.deals_until:
            return info.deals
        if info.deals_loading is None:
            info.deals_loading = loop.create_task(self._load_deals(info, provider))
        return await asyncio.shield(info.deals_loading)

    async def _load_deals(
        self, info: RoomInfo, provider: ActiveDeals
    ) -> list[catalogue.DealStarted]:
        generation = info.deals_generation
        try:
            deals = await provider(info.special_id)
        except Exception:
            log.exception("active deals provider failed for special %s", info.special_id)
            return []
        finally:
            info.deals_loading = None
        if generation == info.deals_generation:
            info.deals = deals
            info.deals_until = asyncio.get_running_loop().time() + DEALS_TTL_S
        return deals

    # -- connections ----------------------------------------------------------
    def hello(
        self,
        info: RoomInfo,
        connection: Connection,
        deals: list[catalogue.DealStarted],
        resume: tuple[str, int] | None,
    ) -> None:
        """Send the snapshot and join the room in one step, so no event falls between."""
        room = self.hub.room(info.special_id)
        viewer: Viewer = connection.info
        missed = room.missed_since(*resume) if resume is not None else None
        snapshot = {
            "type": catalogue.HELLO,
            "special_id": info.special_id,
            "status": info.status,
            "pinned_product": info.pinned_product,
            "pinned_message": self.chat.pinned(info.special_id),
            "deals": deals,
            "viewers": max(info.viewers_sent, len(room.connections) + 1),
            "likes": info.likes,
            "slow_mode_s": self.chat.slow_mode(info.special_id),
            "chat": self.chat.recent(info.special_id),
            "epoch": room.epoch,
            "seq": room.seq,
            "resumed": missed is not None,
            "server_time": self.clock().timestamp() * 1000,
            "you": catalogue.You(
                nickname=viewer.principal.nickname,
                role=viewer.principal.role.value,
                can_chat=bool(viewer.key),
                banned=bool(viewer.key) and self.chat.is_banned(info.special_id, viewer.key),
                moderator=self.can_moderate(info, viewer.principal),
            ),
        }
        room.add(connection)
        room.send_to(connection, encode(snapshot))
        for text in missed or ():
            room.send_to(connection, text)
        self.presence.join(info.special_id)
        self._follow_person(info.special_id, connection)

    def leave(self, info: RoomInfo, connection: Connection) -> None:
        room = self.hub.rooms.get(info.special_id)
        if room is not None:
            room.remove(connection)
        self.presence.leave(info.special_id)
        self._unfollow_person(info.special_id, connection)

    # -- events for one person ----------------------------------------------------
    def _follow_person(self, special_id: int, connection: Connection) -> None:
        key = connection.info.key
        if not key:
            return
        entry = self._personal.get(key)
        if entry is None:
            subscription = self.bus.subscribe(viewer_topic(key), self._on_personal_event)
            entry = self._personal[key] = (subscription, set())
        entry[1].add((special_id, connection))

    def _unfollow_person(self, special_id: int, connection: Connection) -> None:
        key = connection.info.key
        entry = self._personal.get(key) if key else None
        if entry is None:
            return
        entry[1].discard((special_id, connection))
        if not entry[1]:
            entry[0].close()
            del self._personal[key]

    def _on_personal_event(self, topic: str, event: Mapping[str, Any]) -> None:
        entry = self._personal.get(topic.removeprefix(viewer_topic("")))
        if entry is None:
            return
        text = encode(public(event))
        for special_id, connection in list(entry[1]):
            room = self.hub.rooms.get(special_id)
            if room is not None:
                room.send_to(connection, text)

    def can_moderate(self, info: RoomInfo, who: Principal) -> bool:
        return can_run_special(who, info.host_id)

    def send_error(self, info: RoomInfo, connection: Connection, error: DomainError) -> None:
        self.refusals[error.code] += 1
        room = self.hub.room(info.special_id)
        details = {k: v for k, v in error.details.items() if isinstance(v, int | float | str)}
        room.send_to(connection, error_event(error.code, error.message, **details))

    # -- events from the bus --------------------------------------------------
    def _on_event(self, topic: str, event: Mapping[str, Any]) -> None:
        try:
            special_id = int(topic.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return
        info = self.rooms.get(special_id)
        room = self.hub.rooms.get(special_id)
        if info is None:
            return
        kind = event.get("type")
        if not self.chat.observe(special_id, event):
            return  # a chat message delivered twice
        if kind == catalogue.STOCK or kind in catalogue.DEAL_TYPES:
            info.deals = None
            info.deals_generation += 1
        if kind == catalogue.SPECIAL_STATUS and isinstance(event.get("status"), str):
            info.status = event["status"]
        elif kind == catalogue.PRODUCT_PINNED:
            info.pinned_product = event.get("product")
        elif kind == catalogue.LIKES:
            count = int(event.get("count", 0))
            if count <= info.likes_sent:
                return  # an older total from another instance arrived late
            info.likes = info.likes_sent = count
        elif kind == catalogue.CHAT_BANNED and room is not None:
            self._close_banned(room.connections, str(event.get("_author", "")))
        if room is not None:
            room.publish(public(event))

    def _close_banned(self, connections: set[Connection], author_key: str) -> None:
        for connection in list(connections):
            if connection.info.key == author_key:
                connection.close(
                    4003,
                    "banned",
                    last=error_event("chat_banned", "You have been banned from this chat."),
                )

    # -- actions ----------------------------------------------------------------
    def like(self, info: RoomInfo, viewer: Viewer) -> None:
        self.tally.add(info.special_id, viewer.key)

    # -- timers -----------------------------------------------------------------
    def start(self, board: TaskBoard | None = None) -> None:
        self._timer = supervise("realtime-timers", self._run_timers, board=board)

    async def _run_timers(self, health: TaskHealth) -> None:
        """Likes and viewer counts; a Redis hiccup raises and the supervisor restarts it."""
        loop = asyncio.get_running_loop()
        next_counts = loop.time()
        while True:
            await asyncio.sleep(LIKES_INTERVAL_S)
            await self._push_likes()
            if loop.time() >= next_counts:
                next_counts = loop.time() + COUNTS_INTERVAL_S
                await self._push_viewers()
            health.ok()

    async def _push_likes(self) -> None:
        pending = self.tally.drain()
        for special_id, clicks in list(pending.items()):
            try:
                total = await self.likes.add(special_id, clicks)
            except BaseException:
                self.tally.restore(pending)  # this room's clicks and those not tried yet
                raise
            del pending[special_id]
            await self.bus.publish(
                special_topic(special_id),
                catalogue.Likes(type=catalogue.LIKES, special_id=special_id, count=total),
            )

    async def _push_viewers(self) -> None:
        if not self.rooms:
            return
        totals = await self.presence.totals(list(self.rooms))
        for special_id, count in totals.items():
            info = self.rooms.get(special_id)
            room = self.hub.rooms.get(special_id)
            if info is None or room is None or count == info.viewers_sent:
                continue
            info.viewers_sent = count
            room.publish(
                catalogue.Viewers(type=catalogue.VIEWERS, special_id=special_id, count=count)
            )

    async def close(self, code: int = 1001) -> None:
        """Close every socket with ``code`` and stop the timers."""
        self.hub.close_all(code, "server shutdown")
        if self._timer is not None:
            await cancel_and_wait([self._timer])
            self._timer = None
        for info in self.rooms.values():
            if info.subscription is not None:
                info.subscription.close()
        for subscription, _ in self._personal.values():
            subscription.close()
        self._personal.clear()
