"""Which dependency an exception names (``web/outages.py``): the 503 code it becomes."""

from __future__ import annotations

from typing import Any

import pytest
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from livemarket.web.outages import DATABASE, OTHER, REDIS, outage_of


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _chained(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as caught:
        return caught


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (redis_errors.ConnectionError("refused"), REDIS),
        (redis_errors.TimeoutError("slow"), REDIS),
        (redis_errors.BusyLoadingError("loading"), REDIS),
        (redis_errors.ReadOnlyError("replica"), REDIS),
        (sa_errors.OperationalError("SELECT 1", {}, Exception("gone")), DATABASE),
        (sa_errors.InterfaceError("SELECT 1", {}, Exception("closed")), DATABASE),
        (sa_errors.DBAPIError("SELECT 1", {}, _PgError("57P01")), DATABASE),
        (sa_errors.DBAPIError("SELECT 1", {}, _PgError("08006")), DATABASE),
        (sa_errors.TimeoutError("pool"), DATABASE),
        (_PgError("57P03"), DATABASE),
        (_chained(RuntimeError("wrapped"), redis_errors.ConnectionError("x")), REDIS),
        (ConnectionRefusedError(111, "refused"), OTHER),
        (TimeoutError(), OTHER),
        (sa_errors.DBAPIError("INSERT", {}, _PgError("23505")), None),
        (ValueError("a bug"), None),
        (KeyError("a bug"), None),
    ],
)
def test_outage_of(exc: BaseException, expected: object) -> None:
    assert outage_of(exc) is expected


def test_a_socket_error_raised_inside_redis_py_is_redis() -> None:
    from redis.asyncio import connection

    exc = _raise_in_module(connection.__dict__, ConnectionRefusedError(111, "refused"))
    assert outage_of(exc) is REDIS


def _raise_in_module(namespace: dict[str, object], error: BaseException) -> BaseException:
    """``error`` with a traceback frame whose module is ``namespace``'s."""
    code = compile("def boom(e):\n    raise e\n", "<module>", "exec")
    scope: dict[str, object] = {"__name__": namespace["__name__"]}
    exec(code, scope)
    try:
        scope["boom"](error)  # type: ignore[operator]
    except BaseException as caught:
        return caught
    raise AssertionError("unreachable")


async def test_the_middleware_answers_json_for_any_unexpected_error(aiohttp_client: Any) -> None:
    """An outage is a 503 with its code and Retry-After; a bug a JSON 500; a page gets
    the same status as short HTML; never aiohttp's text/plain page."""
    from aiohttp import web

    from livemarket.web.errors import error_middleware

    async def down(request: web.Request) -> web.Response:
        raise redis_errors.ConnectionError("Error 111 connecting")

    async def bug(request: web.Request) -> web.Response:
        raise ValueError("a bug")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/api/v1/down", down)
    app.router.add_get("/api/v1/bug", bug)
    app.router.add_get("/page", down)
    client = await aiohttp_client(app)

    response = await client.get("/api/v1/down")
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert (await response.json())["error"]["code"] == "redis_unavailable"
    response = await client.get("/api/v1/bug")
    assert response.status == 500
    assert (await response.json())["error"]["code"] == "internal_error"
    response = await client.get("/page")
    assert response.status == 503 and response.content_type == "text/html"
    assert response.headers["Retry-After"] == "1"
