"""HLS: the service packaging every live H.264 special, and the client that asks owners.

Needs the relay registry (it registers a session-sink maker with it, so each publisher
gets a channel) and so starts after it and stops before it: live runs end with their
listings written while the relays still run. With ``hls`` off only the client is made
(``/hls/`` still answers, 404 ``hls_disabled``, and serves replays kept on disk).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from livemarket.streamer.hls.service import HlsService
from livemarket.web.hls_proxy import HLS_CLIENT_KEY
from livemarket.web.typedefs import HLS_KEY, RELAYS_KEY, SETTINGS_KEY


async def hls(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    app[HLS_CLIENT_KEY] = aiohttp.ClientSession(auto_decompress=False)
    service = None
    if settings.hls:
        service = HlsService(settings.data_dir / "hls")
        app[HLS_KEY] = service
        app[RELAYS_KEY].session_sinks.append(service.session_sink)
    yield
    if service is not None:
        sinks = app[RELAYS_KEY].session_sinks
        if service.session_sink in sinks:
            sinks.remove(service.session_sink)
        await service.close()
    await app[HLS_CLIENT_KEY].close()
