"""The private aiohttp behaviour the socket take-over stands on: fails loudly if it moves.

``gateway._take_over`` moves a connection from aiohttp's ``RequestHandler`` to our own
protocol by setting ``handler.transport = None`` and calling ``handler.connection_lost``,
and answers the handler with a response whose ``prepare``/``write_eof`` write nothing.
aiohttp is pinned to one minor version for this (pyproject.toml); these tests say what
to re-check when it moves.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web_protocol
from aiohttp.test_utils import TestClient

from tests.web.realtime.conftest import Peer


def test_aiohttp_is_the_pinned_minor_version() -> None:
    """The take-over was verified against aiohttp 3.14; another minor needs re-checking."""
    assert aiohttp.__version__.startswith("3.14.")


def test_request_handler_still_has_the_names_the_take_over_uses() -> None:
    """``RequestHandler`` keeps a settable ``transport`` and a ``connection_lost``."""
    assert callable(web_protocol.RequestHandler.connection_lost)
    assert "transport" in web_protocol.RequestHandler.__slots__ or hasattr(
        web_protocol.RequestHandler, "transport"
    )


async def test_a_taken_over_socket_leaves_aiohttp_and_keeps_working(
    client: TestClient[Any, Any], live_special: int
) -> None:
    """After the upgrade aiohttp no longer counts the connection (its handler and task are
    gone), yet the socket still carries frames both ways and closes cleanly."""
    server = client.server.handler  # aiohttp's web_server.Server: its live connections
    peer = Peer(str(client.make_url("")).rstrip("/"))
    try:
        await peer.open_session()
        socket = await peer.connect(live_special)
        await socket.next("hello")

        def detached() -> list[Any]:  # handlers aiohttp still keeps for a socket it gave up
            return [handler for handler in server.connections if handler.transport is None]

        for _ in range(100):  # the handler's task ends once the gateway returns
            if not detached():
                break
            await asyncio.sleep(0.01)
        assert not detached(), "aiohttp still holds the taken-over socket's handler"
        await socket.send({"type": "ping", "t": 1})
        assert (await socket.next("pong"))["t"] == 1
    finally:
        await peer.close()
