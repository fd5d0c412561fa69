"""Accounts: the login budget and the session generations (which revoke sessions)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from livemarket.web import revocation
from livemarket.web.login_throttle import (
    LOGIN_THROTTLE_KEY,
    LocalLoginThrottle,
    RedisLoginThrottle,
)
from livemarket.web.revocation import GENERATIONS_KEY, SessionGenerations
from livemarket.web.typedefs import (
    BUS_KEY,
    REDIS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)


async def accounts(app: web.Application) -> AsyncIterator[None]:
    """The login budget (in Redis when there is one: every instance shares it) and the
    session generations (they use storage and the bus)."""
    client = app.get(REDIS_KEY)
    if client is None:
        app[LOGIN_THROTTLE_KEY] = LocalLoginThrottle()
    else:
        app[LOGIN_THROTTLE_KEY] = RedisLoginThrottle(client, app[SETTINGS_KEY].redis_prefix)
    generations = SessionGenerations(app[SESSIONS_KEY], app[BUS_KEY], ttl_s=revocation.TTL_S)
    app[GENERATIONS_KEY] = generations
    try:
        yield
    finally:
        generations.close()
