"""LL-HLS through Debian's nginx, configured by the shipped example, in front of two instances.

The host publishes H.264 to instance A; nginx balances viewers over A and B (B fetches
from A, the relay's owner). A crowd of simulated LL-HLS viewers behind the cache must
cost the origin about one fetch per part, whichever instance nginx asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import StartInstance
from tests.scale.hls_client import read_playlist, watch_live
from tests.scale.nginx_cache import CachingProxy, environment_allows_nginx, origin_fetches
from tests.streamer.peers import start_publisher
from tests.streamer.test_media_http import _whip
from tests.streamer.test_scale_out import _host_special

VIEWERS = 40
WATCH_S = 6.0


@pytest.fixture
def proxy_folder(tmp_path: Path) -> Iterator[Path]:
    reason = environment_allows_nginx()
    if reason is not None:
        pytest.skip(reason)
    yield tmp_path / "nginx"


async def _until_playing(http: aiohttp.ClientSession, url: str, within_s: float = 20.0) -> str:
    """The live playlist once it lists parts (the first keyframe has been packaged)."""
    async with asyncio.timeout(within_s):
        while True:
            async with http.get(url) as response:
                text = await response.text()
                if response.status == 200 and read_playlist(text).parts:
                    return text
            await asyncio.sleep(0.2)


async def test_a_crowd_behind_nginx_costs_the_origin_one_fetch_per_part(
    start_instance: StartInstance, proxy_folder: Path
) -> None:
    a = await start_instance()
    b = await start_instance()
    special_id, key = await _host_special(a)
    publisher = await start_publisher(_whip(a.client, special_id, key), codec="video/H264")
    upstreams = [a.url.removeprefix("http://"), b.url.removeprefix("http://")]
    proxy = CachingProxy(proxy_folder, upstreams)
    proxy.start()
    try:
        async with aiohttp.ClientSession() as http:
            playlist_url = f"{proxy.url}/hls/{special_id}/live.m3u8"
            await _until_playing(http, playlist_url)
            until = time.monotonic() + WATCH_S
            tallies = await asyncio.gather(
                *(watch_live(http, playlist_url, until) for _ in range(VIEWERS))
            )
            async with http.get(f"{proxy.url}/hls/{special_id}/index.m3u8") as response:
                assert response.status == 200
                assert "avc1." in await response.text()
                assert "Set-Cookie" not in response.headers
    finally:
        proxy.stop()
        await publisher.close()

    fetched = [uri for tally in tallies for uri in tally.fetched]
    assert all(not tally.errors for tally in tallies), [t.errors for t in tallies if t.errors]
    assert len(fetched) >= VIEWERS * 4  # every viewer followed several parts
    requests = proxy.requests()
    parts = origin_fetches(requests, ".mp4")
    part_requests = [row for row in requests if row.path.endswith(".mp4")]
    # the cache asked an instance for each part once, however many viewers wanted it
    assert parts and max(parts.values()) == 1, parts.most_common(3)
    hit_ratio = 1 - sum(parts.values()) / len(part_requests)
    assert hit_ratio >= 0.9, hit_ratio
    # both instances answered (B by fetching from A, the relay's owner)
    answered_by = {row.upstream for row in requests if row.upstream != "-"}
    assert answered_by >= set(upstreams), answered_by
