"""Two instances on one Redis: the relay directory sends WHEP to the owner, refuses a 2nd WHIP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from livemarket.accounts.service import create_user
from livemarket.web.typedefs import REDIS_KEY, RELAYS_KEY, SESSIONS_KEY, SETTINGS_KEY
from tests.conftest import PASSWORD, Instance, StartInstance
from tests.streamer.peers import start_publisher, start_viewer
from tests.streamer.test_media_http import OFFER, SDP, _key, _special, _whip

Client = TestClient[Any, Any]


async def _host_special(instance: Instance) -> tuple[int, str]:
    host = await create_user(
        instance.app[SESSIONS_KEY], username="host1", password=PASSWORD, role="host"
    )
    return await _special(instance.app, host.id), await _key(instance.app, host.id)


def _whep_following(client: Client, special_id: int):  # type: ignore[no-untyped-def]
    """A WHEP signal that follows redirects, as browsers' fetch does."""

    async def signal(offer: str) -> str:
        response = await client.post(f"/whep/{special_id}", data=offer, headers=SDP)
        assert response.status == 201, await response.text()
        signal.url = str(response.url)  # type: ignore[attr-defined]
        signal.location = response.headers["Location"]  # type: ignore[attr-defined]
        return await response.text()

    return signal


def viewer_location(signal: Any) -> str:
    return str(signal.location)


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.05)


async def test_whep_redirects_to_the_owner_and_whip_elsewhere_is_refused(
    start_instance: StartInstance,
) -> None:
    """Publish on A: B answers WHEP with 307 to A, WHIP with 409; DELETE frees the claim."""
    a = await start_instance(relay_claim_ttl_s=3.0)
    b = await start_instance(relay_claim_ttl_s=3.0)
    special_id, key = await _host_special(a)
    claim = f"{a.app[SETTINGS_KEY].redis_prefix}relay:{special_id}"
    whip = _whip(a.client, special_id, key)
    publisher = await start_publisher(whip)
    viewer = None
    try:
        redis = a.app[REDIS_KEY]
        assert 0 < await redis.pttl(claim) <= 3000

        redirected = await b.client.post(
            f"/whep/{special_id}", data=OFFER, headers=SDP, allow_redirects=False
        )
        assert redirected.status == 307
        assert redirected.headers["Location"] == f"{a.url}/whep/{special_id}"

        # a WHEP client following the redirect plays from A's relay
        signal = _whep_following(b.client, special_id)
        viewer = await start_viewer(signal)
        await viewer.wait_frames(5)
        assert signal.url.startswith(a.url)  # type: ignore[attr-defined]
        assert a.app[RELAYS_KEY].get(special_id).viewer_count == 1
        assert viewer_location(signal).startswith(f"{a.url}/whep/{special_id}/")
        relay_b = b.app[RELAYS_KEY].find(special_id)
        assert relay_b is None or relay_b.viewer_count == 0

        busy = await b.client.post(
            f"/whip/{special_id}", data=OFFER, headers={**SDP, "Authorization": f"Bearer {key}"}
        )
        assert busy.status == 409
        assert (await busy.json())["error"]["code"] == "stream_elsewhere"

        # the claim outlives its TTL while A's heartbeat runs
        await asyncio.sleep(3.5)
        assert (
            await b.client.post(
                f"/whep/{special_id}", data=OFFER, headers=SDP, allow_redirects=False
            )
        ).status == 307

        assert whip.location.startswith(f"{a.url}/whip/{special_id}/")
        # the viewer's DELETE, sent through B's client, reaches A by its absolute Location
        assert (await b.client.session.delete(viewer_location(signal))).status == 200
        assert a.app[RELAYS_KEY].get(special_id).viewer_count == 0
        assert (await a.client.session.delete(whip.location)).status == 200
        assert await redis.get(claim) is None
        # B now takes the host itself
        moved = await start_publisher(_whip(b.client, special_id, key))
        await moved.close()
    finally:
        if viewer is not None:
            await viewer.close()
        await publisher.close()


async def test_early_viewers_on_another_instance_are_sent_to_the_owner(
    start_instance: StartInstance,
) -> None:
    """A viewer waiting on B is hung up when A goes live, reconnects via 307 and plays."""
    a = await start_instance(relay_claim_ttl_s=0.6)
    b = await start_instance(relay_claim_ttl_s=0.6)
    special_id, key = await _host_special(a)
    early = await start_viewer(_whep_following(b.client, special_id))
    publisher = None
    again = None
    try:
        relay_b = b.app[RELAYS_KEY].get(special_id)
        assert relay_b.viewer_count == 1
        publisher = await start_publisher(_whip(a.client, special_id, key))

        async def hung_up() -> bool:
            return relay_b.viewer_count == 0

        await _eventually(hung_up)
        signal = _whep_following(b.client, special_id)
        again = await start_viewer(signal)
        await again.wait_frames(5)
        assert signal.url.startswith(a.url)  # type: ignore[attr-defined]

        # A's shutdown gives the claim up at once
        claim = f"{a.app[SETTINGS_KEY].redis_prefix}relay:{special_id}"
        redis = b.app[REDIS_KEY]
        assert await redis.get(claim) is not None
        await a.client.close()
        assert await redis.get(claim) is None
    finally:
        for peer in (early, again, publisher):
            if peer is not None:
                await peer.close()
