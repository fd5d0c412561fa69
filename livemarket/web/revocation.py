"""Server-side revocation of login sessions: a per-user generation, checked per request.

A login cookie is encrypted and stateless, so by itself it stays valid for its
whole 30 days. Each user row holds a ``session_generation``; a session carries the
generation it was issued under and counts only while the two agree. Logout, a new
password and disabling the account move the generation on (in the database, so
every instance sees it).

Only staff sessions pay for the check, and rarely: the generation is remembered
for ``TTL_S`` per user, and a revocation made through this server is announced on
the bus (Redis in scale-out), so every instance forgets its copy at once. A change
made behind the bus's back (the ``livemarket`` command) is seen within ``TTL_S``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts import service as accounts
from livemarket.bus import catalogue
from livemarket.bus.events import Event, EventBus, Subscription

#: How long a user's generation is trusted without asking the database.
TTL_S = 5.0
ACCOUNTS_TOPIC = "accounts"
_MAX_CACHED = 10_000


class SessionGenerations:
    """Each user's current session generation, cached briefly, forgotten on revocation."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._ttl_s = ttl_s
        self._clock = clock
        self._known: dict[int, tuple[int | None, float]] = {}
        self._subscription: Subscription = bus.subscribe(ACCOUNTS_TOPIC, self._on_event)

    async def current(self, user_id: int) -> int | None:
        """The generation a session of ``user_id`` must carry; None when none may exist."""
        now = self._clock()
        known = self._known.get(user_id)
        if known is not None and known[1] > now:
            return known[0]
        async with self._sessions() as db:
            generation = await accounts.session_generation(db, user_id)
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known[user_id] = (generation, now + self._ttl_s)
        return generation

    async def revoke(self, user_id: int) -> None:
        """End every session of ``user_id`` on every instance."""
        async with self._sessions.begin() as db:
            await accounts.revoke_sessions(db, user_id)
        await self.announce(user_id)

    async def announce(self, user_id: int) -> None:
        """Tell every instance that ``user_id``'s generation changed."""
        self._known.pop(user_id, None)
        await self._bus.publish(
            ACCOUNTS_TOPIC,
            catalogue.SessionsRevoked(type=catalogue.SESSIONS_REVOKED, user_id=user_id),
        )

    def _on_event(self, _topic: str, event: Event) -> None:
        user_id = event.get("user_id")
        if isinstance(user_id, int):
            self._known.pop(user_id, None)

    def close(self) -> None:
        self._subscription.close()


GENERATIONS_KEY = web.AppKey("session_generations", SessionGenerations)
