"""Hostile WHIP/WHEP offers against a real server: answered at once, no seat kept.

Mutated offers (``sdp_mutations``) get 201 or a 4xx in the contract's JSON
shape, never a 500 or no answer; offers that never connect hold few seats per
address and only for the connect grace.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcconfiguration import RTCConfiguration

from livemarket.accounts.service import stream_key_of
from livemarket.config import Settings, load_settings
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow
from livemarket.streamer.ice import host_addresses
from livemarket.streamer.registry import RelayRegistry
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.conftest import UserMaker
from tests.streamer.peers import LOOPBACK
from tests.streamer.sdp_mutations import issue_offer, mutations

Client = TestClient[Any, Any]
SDP = {"Content-Type": "application/sdp"}
#: Mutated offers per direction: a few hundred in all, a few seconds each run.
CASES = 150
#: No answer may take longer than this (the server's own deadline is 10 s).
ANSWER_WITHIN_S = 12.0
#: The connect grace in these tests.
GRACE_S = 3.0


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1; five seats per special; two pending per address; a 3 s grace."""
    return load_settings(
        {},
        data_dir=tmp_path,
        database_url=sqlite_url,
        ice_host_addresses=("127.0.0.1",),
        capacity_per_special=5,
        pending_viewers_per_address=2,
        viewer_connect_grace_s=GRACE_S,
        recordings=False,
    )


async def _special(app: web.Application, host_id: int) -> int:
    now = utcnow()
    async with app[SESSIONS_KEY].begin() as db:
        special = Special(
            title="Hostile",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            host_id=host_id,
            status="live",
        )
        db.add(special)
        await db.flush()
        return special.id


async def _offer(*, publisher: bool = False) -> str:
    """A real aiortc offer (video first), from a peer closed at once: it never connects."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if publisher:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    else:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    with host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return str(pc.localDescription.sdp)


def _udp_sockets() -> int:
    import psutil

    return len(psutil.Process().net_connections(kind="udp"))


async def _all_hung_up(registry: RelayRegistry, udp_before: int) -> None:
    """No seat taken, none pending, and every peer's sockets closed (within a few seconds)."""
    async with asyncio.timeout(10):
        while registry.total_viewers or _udp_sockets() != udp_before:
            gc.collect()
            await asyncio.sleep(0.05)
    assert registry.seats.pending_total() == 0


async def _post(
    http: aiohttp.ClientSession | Client, url: str, offer: str, **headers: str
) -> tuple[int, dict[str, str], str]:
    async with asyncio.timeout(ANSWER_WITHIN_S):
        response = await http.post(url, data=offer.encode(), headers={**SDP, **headers})
        return response.status, dict(response.headers), await response.text()


def _json_error(headers: dict[str, str], body: str) -> str:
    """The error code of an answer in the contract's shape (asserting the shape)."""
    import json

    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return str(error["code"])


@asynccontextmanager
async def _from_address(client: Client, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections come from ``address`` (any 127/8 works on Linux)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(str(client.make_url("")), connector=connector) as http:
        yield http


async def test_the_reported_offer_is_refused_at_once_and_keeps_no_seat(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Six of the reported offers (video merged into a=msid-semantic, audio port 2**32)
    each get 400 invalid_sdp at once; a special capped at 5 still takes a viewer."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    registry = app[RELAYS_KEY]
    udp_before = _udp_sockets()
    bad = issue_offer(await _offer())
    for _ in range(6):
        status, headers, body = await _post(client, f"/whep/{special_id}", bad)
        assert _json_error(headers, body) == "invalid_sdp"
        assert status == 400
    assert registry.total_viewers == 0
    status, headers, body = await _post(client, f"/whep/{special_id}", await _offer())
    assert status == 201, body
    assert (await client.delete(headers["Location"])).status == 200
    await _all_hung_up(registry, udp_before)


@pytest.mark.parametrize("publisher", [False, True], ids=["whep", "whip"])
async def test_mutated_offers_get_201_or_a_json_4xx_and_free_everything(
    client: Client,
    app: web.Application,
    make_user: UserMaker,
    publisher: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Broken m= lines, huge ports, odd payload types, missing fingerprints, cut lines...:
    every offer is answered in time, 201 or a 4xx JSON error; afterwards no seat, no
    pending seat and no socket is left, and no traceback was logged (no log flood)."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    registry = app[RELAYS_KEY]
    auth = {}
    if publisher:
        async with app[SESSIONS_KEY].begin() as db:
            auth["Authorization"] = f"Bearer {await stream_key_of(db, host.id)}"
    url = f"/{'whip' if publisher else 'whep'}/{special_id}"
    udp_before = _udp_sockets()
    offer = await _offer(publisher=publisher)
    seen: Counter[str] = Counter()
    cases = [("reported", issue_offer(offer)), *mutations(offer, CASES, seed=13 + publisher)]
    for name, mutated in cases:
        status, headers, body = await _post(client, url, mutated, **auth)
        if status == 201:
            seen["201"] += 1
            deleted = await client.delete(headers["Location"])
            assert deleted.status == 200, (name, await deleted.text())
        else:
            assert 400 <= status < 500, (name, status, body)
            code = _json_error(headers, body)
            seen[f"{status} {code}"] += 1
    # The mutator does reach both outcomes (a test that cannot fail proves nothing).
    assert seen["201"] >= 10, seen
    assert seen["400 invalid_sdp"] >= CASES // 3, seen
    await _all_hung_up(registry, udp_before)
    gc.collect()  # an unretrieved task's exception is logged when it is collected
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_offers_that_never_connect_hold_few_seats_and_only_for_the_grace(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """300 valid offers that never connect, from one address: at most two hold seats at
    a time (its pending budget), the rest get 429 with Retry-After; other addresses still
    get in, up to the cap (then 503); after the grace every unconnected seat is free."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    registry = app[RELAYS_KEY]
    relay = registry.get(special_id)
    url = f"/whep/{special_id}"
    offer = await _offer()
    statuses: Counter[int] = Counter()

    async def hoard(http: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            status, headers, body = await _post(http, url, offer)
            statuses[status] += 1
            assert relay.viewer_count <= 2
            if status != 201:
                assert _json_error(headers, body) == "too_many_pending"
                assert status == 429 and int(headers["Retry-After"]) >= 1

    async def all_free() -> None:
        async with asyncio.timeout(GRACE_S + 10):
            while registry.total_viewers or relay.viewer_count:
                await asyncio.sleep(0.1)

    loop = asyncio.get_running_loop()
    async with _from_address(client, "127.0.0.1") as hoarder:
        started = loop.time()
        await asyncio.gather(*(hoard(hoarder, 30) for _ in range(10)))
        graces = (loop.time() - started) / GRACE_S
        assert statuses[201] + statuses[429] == 300
        assert 2 <= statuses[201] <= 2 * (graces + 2), (statuses, graces)
        await all_free()

        async with (
            _from_address(client, "127.0.0.2") as second,
            _from_address(client, "127.0.0.3") as third,
        ):
            for http in (hoarder, hoarder):
                assert (await _post(http, url, offer))[0] == 201
            assert (await _post(hoarder, url, offer))[0] == 429
            for http in (second, second, third):
                assert (await _post(http, url, offer))[0] == 201
            status, headers, body = await _post(third, url, offer)
            assert _json_error(headers, body) == "webrtc_seats_full"
            assert status == 503 and int(headers["Retry-After"]) >= 1

            await all_free()  # the grace passes: nobody connected, every seat is free
            assert (await _post(third, url, offer))[0] == 201
