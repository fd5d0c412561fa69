"""Real Chromium on real worker processes: a viewer follows the stream to its new owner."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from tests.browser.conftest import NewPage, PageErrors
from tests.browser.test_streaming import FRAMES_JS
from tests.conftest import forget_redis_keys
from tests.streamer.peers import start_publisher
from tests.web.test_workers import (
    all_healthy,
    host_special,
    serve_environment,
    start_serve,
    stop_serve,
    whip_on,
)


async def test_a_viewer_follows_the_stream_when_its_owner_is_killed(
    new_page: NewPage,
    page_errors: PageErrors,
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """Page on worker 1 plays from worker 0; kill -9 worker 0, the host re-publishes on
    worker 1: the page's player reconnects by itself and plays from worker 1."""
    env = serve_environment(tmp_path, postgres_url, redis_url, redis_prefix)
    served = await asyncio.to_thread(start_serve, env, tmp_path / "serve.stderr")
    publishers = []
    try:
        await all_healthy(served)
        (first_pid, first), (_, second) = served.workers
        special_id, key = await host_special(postgres_url)
        async with aiohttp.ClientSession() as http:
            publishers.append(
                await start_publisher(whip_on(http, f"{first}/whip/{special_id}", key))
            )
            viewer = await new_page(locale="en-US")
            await viewer.goto(f"{second}/specials/{special_id}")
            await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=30_000)
            session = await viewer.evaluate("() => LM.player.session()")
            assert session.startswith(f"{first}/whep/{special_id}/")

            os.kill(first_pid, signal.SIGKILL)
            headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"}

            async def whip_until_taken(offer: str) -> str:
                async with asyncio.timeout(20):
                    while True:
                        async with http.post(
                            f"{second}/whip/{special_id}", data=offer, headers=headers
                        ) as response:
                            if response.status != 409:
                                assert response.status == 201, await response.text()
                                return await response.text()
                        await asyncio.sleep(0.2)

            publishers.append(await start_publisher(whip_until_taken))
            await viewer.wait_for_function(
                f"() => (LM.player.session() || '').startsWith('{second}/whep/{special_id}/')",
                timeout=45_000,
            )
            await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
            frames = await viewer.evaluate(FRAMES_JS)
            await viewer.wait_for_function(
                f"() => LM.player.frames() > {frames + 10}", timeout=10_000
            )
    finally:
        for publisher in publishers:
            await publisher.close()
        await asyncio.to_thread(stop_serve, served)
        await forget_redis_keys(redis_url, redis_prefix)
    assert page_errors.errors == []
