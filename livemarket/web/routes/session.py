"""``/api/v1/session``: log in and out, who am I, viewer nickname; ``/api/v1/me/stream-key``."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web
from aiohttp_session import get_session
from pydantic import Field

from livemarket.accounts import service as accounts
from livemarket.accounts.models import User
from livemarket.accounts.nicknames import validate_nickname
from livemarket.accounts.roles import Access
from livemarket.web.api import ApiRoutes, body_of
from livemarket.web.auth import (
    csrf_token_of,
    ensure_viewer_session,
    principal,
    start_user_session,
)
from livemarket.web.errors import ApiError
from livemarket.web.fields import Body, Line
from livemarket.web.login_throttle import LOGIN_THROTTLE_KEY, attempt_for
from livemarket.web.responses import json_response
from livemarket.web.revocation import GENERATIONS_KEY
from livemarket.web.typedefs import SESSIONS_KEY

routes = ApiRoutes()


class LoginBody(Body):
    username: Line = Field(min_length=1, max_length=40)
    password: Line = Field(min_length=1, max_length=200)


class NicknameBody(Body):
    nickname: str = Field(max_length=100)


def user_to_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
    }


async def _session_view(request: web.Request) -> dict[str, Any]:
    session = await ensure_viewer_session(request)
    who = await principal(request)
    user = None
    if who.user_id is not None:
        user = {"id": who.user_id, "role": who.role.value, "display_name": who.nickname}
    return {
        "user": user,
        "viewer": {"key": who.viewer_key, "nickname": who.nickname, "role": who.role.value},
        "csrf_token": csrf_token_of(session),
    }


@routes.get(
    "/api/v1/session",
    access=Access.PUBLIC,
    tags=("session",),
    summary="Who is logged in; opens an anonymous viewer session with a CSRF token",
)
async def get_session_info(request: web.Request) -> web.Response:
    return json_response(await _session_view(request))


@routes.post(
    "/api/v1/session",
    access=Access.PUBLIC,
    body=LoginBody,
    tags=("session",),
    summary="Log an operator or host in (sets the session cookie)",
    errors=(401, 429),
)
async def login(request: web.Request) -> web.Response:
    body = body_of(request, LoginBody)
    throttle = request.app[LOGIN_THROTTLE_KEY]
    attempt = attempt_for(body.username, request.remote)
    wait = await throttle.take(attempt)  # counted before the check: parallel guesses too
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many failed logins; try again shortly.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    async with request.app[SESSIONS_KEY]() as db:
        user = await accounts.authenticate(db, body.username, body.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    await throttle.succeeded(attempt)
    session = await start_user_session(
        request,
        user_id=user.id,
        role=user.role,
        display_name=user.display_name,
        generation=user.session_generation,
    )
    return json_response({"user": user_to_dict(user), "csrf_token": csrf_token_of(session)})


@routes.delete(
    "/api/v1/session",
    access=Access.PUBLIC,
    status=204,
    tags=("session",),
    summary="Log out (this user's sessions end on every device and instance)",
)
async def logout(request: web.Request) -> web.Response:
    who = await principal(request)
    if who.user_id is not None:
        await request.app[GENERATIONS_KEY].revoke(who.user_id)
    session = await get_session(request)
    session.invalidate()
    return web.Response(status=204)


@routes.patch(
    "/api/v1/session",
    access=Access.VIEWER,
    body=NicknameBody,
    tags=("session",),
    summary="Set the viewer's chat nickname (kept in the session)",
)
async def set_nickname(request: web.Request) -> web.Response:
    nickname = validate_nickname(body_of(request, NicknameBody).nickname)
    who = await principal(request)
    if who.is_staff:
        raise ApiError(409, "staff_nickname", "Staff chat under their display name.")
    session = await get_session(request)
    session["nickname"] = nickname
    return json_response(await _session_view(request))


@routes.get(
    "/api/v1/me/stream-key",
    access=Access.HOST,
    tags=("session",),
    summary="The host's WHIP stream key",
)
async def get_stream_key(request: web.Request) -> web.Response:
    who = await principal(request)
    assert who.user_id is not None  # Access.HOST guarantees a logged-in user
    async with request.app[SESSIONS_KEY].begin() as db:
        key = await accounts.stream_key_of(db, who.user_id)
    return json_response({"stream_key": key})


@routes.post(
    "/api/v1/me/stream-key",
    access=Access.HOST,
    tags=("session",),
    summary="Renew the host's WHIP stream key (the old one stops working)",
)
async def renew_stream_key(request: web.Request) -> web.Response:
    who = await principal(request)
    assert who.user_id is not None
    async with request.app[SESSIONS_KEY].begin() as db:
        key = await accounts.renew_stream_key(db, who.user_id)
    return json_response({"stream_key": key})


def setup(app: web.Application) -> None:
    routes.install(app)
