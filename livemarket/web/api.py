"""Declared JSON routes: each names its access level, summary and body model.

One declaration drives three things, so they cannot drift apart: the route in
the router, the role check (401 without a session, 403 without the role, before
the handler runs and so before anything changes), and the OpenAPI document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from livemarket.accounts.roles import Access, Principal, allows
from livemarket.web.auth import principal
from livemarket.web.errors import ApiError
from livemarket.web.fields import path_id
from livemarket.web.responses import json_response

ApiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

_BODY = web.RequestKey("body", BaseModel)


@dataclass(frozen=True)
class Operation:
    """One documented API operation."""

    method: str
    path: str
    handler: ApiHandler
    access: Access
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    status: int = 200
    content_type: str = "application/json"
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()


OPERATIONS_KEY = web.AppKey("api_operations", list[Operation])


def _problem_detail(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return where, f"{where}: {first['msg']}"


async def parse_json(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated by ``model``; 400/415/422 with the field named.

    pydantic parses the bytes itself (``model_validate_json``): no ``json.loads`` into
    Python objects first, a visible share of a cheap request such as a refused order.
    """
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    body = await request.read()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise ApiError(400, "malformed_json", "The body is not valid JSON.") from exc
        field_name, message = _problem_detail(exc)
        raise ApiError(422, "invalid_field", message, field=field_name) from exc


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string validated by ``model`` (unknown parameters refused)."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        field_name, message = _problem_detail(exc)
        raise ApiError(422, "invalid_query", message, field=field_name) from exc


def body_of(request: web.Request, model: type[M]) -> M:
    """The body the route's declaration parsed before the handler ran."""
    body = request[_BODY]
    if not isinstance(body, model):
        raise TypeError(f"route declared another body model than {model.__name__}")
    return body


def path_int(request: web.Request, name: str) -> int:
    """An integer path parameter, or 404 (an id that cannot exist is not found)."""
    found = path_id(request.match_info.get(name, ""))
    if found is None:
        raise ApiError(404, "not_found", f"No such {name.removesuffix('_id')}.")
    return found


def require(principal_: Principal, access: Access) -> None:
    """401 when there is no login and one is needed; 403 when the role is not enough."""
    if allows(access, principal_):
        return
    # No session at all: say who you are first. A known viewer (anonymous session)
    # or a user without the role is refused outright: the viewer calling a host's
    # endpoint is a 403, not an invitation to log in.
    if not principal_.viewer_key:
        raise ApiError(401, "unauthenticated", "Log in (or open a session) first.")
    raise ApiError(403, "forbidden", "Your role may not do this.")


@dataclass
class ApiRoutes:
    """A set of declared operations that ``install`` adds to an app."""

    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        tags: tuple[str, ...] = (),
        status: int = 200,
        content_type: str = "application/json",
        errors: tuple[int, ...] = (),
        headers: tuple[str, ...] = (),
    ) -> Callable[[ApiHandler], ApiHandler]:
        def decorate(handler: ApiHandler) -> ApiHandler:
            @functools.wraps(handler)
            async def guarded(request: web.Request) -> web.StreamResponse:
                require(await principal(request), access)
                if body is not None:
                    request[_BODY] = await parse_json(request, body)
                return await handler(request)

            self.operations.append(
                Operation(
                    method,
                    path,
                    guarded,
                    access,
                    summary,
                    body,
                    query,
                    tags,
                    status,
                    content_type,
                    errors,
                    headers,
                )
            )
            return guarded

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[ApiHandler], ApiHandler]:
        return self.route("DELETE", path, **kw)

    def install(self, app: web.Application) -> None:
        """Add every operation to the router and to the app's OpenAPI list."""
        registry = app.setdefault(OPERATIONS_KEY, [])
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)
            registry.append(op)


# --- optimistic edits ------------------------------------------------------------------

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def expected_version(request: web.Request, body_version: int | None) -> tuple[int | None, bool]:
    """The version a write is based on: ``If-Match`` (412 when stale) or the body's (409).

    ``If-Match: *`` means "whatever is there": no version check.
    """
    header = request.headers.get("If-Match")
    if header is not None and header.strip() == "*":
        return None, True
    if header is not None:
        match = _IF_MATCH.match(header)
        if match is None:
            raise ApiError(400, "bad_if_match", 'If-Match must be the ETag you read, e.g. "3"')
        return int(match.group(1)), True
    return body_version, False


def versioned_response(item: dict[str, Any], status: int = 200) -> web.Response:
    """``item`` as JSON with its version as the ``ETag`` (what the next ``If-Match`` sends)."""
    return json_response(item, status=status, headers={"ETag": f'"{item["version"]}"'})
