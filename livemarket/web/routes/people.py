"""Accounts over HTTP, for operators: hosts and operators, passwords, stream keys, disabling.

Every write that should end someone's sessions (a new password, disabling) moves their
session generation on and announces it, so their cookies stop working on every instance.
A new or reset password is generated here and returned once, for the operator to hand
over; it is never stored or shown again.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from livemarket.accounts import service as accounts
from livemarket.accounts.models import User
from livemarket.accounts.roles import Access
from livemarket.errors import Conflict, NotFound
from livemarket.web.api import ApiRoutes, body_of, path_int
from livemarket.web.auth import principal
from livemarket.web.fields import Body, Line
from livemarket.web.responses import json_response
from livemarket.web.revocation import GENERATIONS_KEY
from livemarket.web.typedefs import CLOCK_KEY, SESSIONS_KEY

routes = ApiRoutes()
TAGS = ("people",)


class NewUser(Body):
    username: str = Field(min_length=3, max_length=40)
    display_name: Line = Field(min_length=1, max_length=40)
    role: Literal["host", "operator"] = "host"


class UserPatch(Body):
    disabled: bool | None = None


async def _user(request: web.Request, user_id: int) -> User:
    async with request.app[SESSIONS_KEY]() as db:
        user = await db.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"No user {user_id}.")
    return user


async def _announce(request: web.Request, user_id: int) -> None:
    generations = request.app.get(GENERATIONS_KEY)
    if generations is not None:
        await generations.announce(user_id)


@routes.get("/api/v1/users", access=Access.OPERATOR, tags=TAGS, summary="Every account")
async def users_index(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        found = await accounts.list_users(db)
    return json_response({"items": [accounts.user_to_dict(u) for u in found], "next": None})


@routes.post(
    "/api/v1/users",
    access=Access.OPERATOR,
    body=NewUser,
    tags=TAGS,
    status=201,
    errors=(409, 422),
    summary="Create a host or operator; the answer carries its first password, once",
)
async def create_user(request: web.Request) -> web.Response:
    body = body_of(request, NewUser)
    password = accounts.generated_password()
    user = await accounts.create_user(
        request.app[SESSIONS_KEY],
        username=body.username,
        password=password,
        role=body.role,
        display_name=body.display_name,
    )
    return json_response({**accounts.user_to_dict(user), "password": password}, status=201)


@routes.post(
    "/api/v1/users/{user_id}/password",
    access=Access.OPERATOR,
    tags=TAGS,
    errors=(404,),
    summary="Give the account a new generated password (returned once); its sessions end",
)
async def reset_password(request: web.Request) -> web.Response:
    user = await _user(request, path_int(request, "user_id"))
    password = accounts.generated_password()
    async with request.app[SESSIONS_KEY].begin() as db:
        await accounts.change_password(db, user.username, password)
    await _announce(request, user.id)
    return json_response({**accounts.user_to_dict(user), "password": password})


@routes.post(
    "/api/v1/users/{user_id}/stream-key",
    access=Access.OPERATOR,
    tags=TAGS,
    errors=(404, 409),
    summary="Replace a host's stream key (the old one stops working at once)",
)
async def rotate_stream_key(request: web.Request) -> web.Response:
    user = await _user(request, path_int(request, "user_id"))
    if user.role != "host" or user.disabled_at is not None:
        raise Conflict("not_an_active_host", "Only an active host has a stream key.")
    async with request.app[SESSIONS_KEY].begin() as db:
        key = await accounts.renew_stream_key(db, user.id)
    return json_response({"stream_key": key})


@routes.patch(
    "/api/v1/users/{user_id}",
    access=Access.OPERATOR,
    body=UserPatch,
    tags=TAGS,
    errors=(404, 409, 422),
    summary="Disable an account (no login, no stream key, its sessions end) or enable it",
)
async def patch_user(request: web.Request) -> web.Response:
    user = await _user(request, path_int(request, "user_id"))
    body = body_of(request, UserPatch)
    if body.disabled is not None:
        if body.disabled and user.id == (await principal(request)).user_id:
            raise Conflict("cannot_disable_self", "You cannot disable your own account.")
        async with request.app[SESSIONS_KEY].begin() as db:
            if body.disabled:
                user = await accounts.disable_user(db, user.username, request.app[CLOCK_KEY]())
            else:
                user = await accounts.enable_user(db, user.username)
        await _announce(request, user.id)
    return json_response(accounts.user_to_dict(user))


def setup(app: web.Application) -> None:
    routes.install(app)
