"""The watch page on LL-HLS: how long to a playing picture, how far behind, deals on time.

Everything real, on 127.0.0.1: the LiveMarket app (embedded mode, a migrated SQLite
file in a temporary folder) served by aiohttp in this process; an aiortc publisher
sending H.264 (160x120, 30 fps) and Opus over WHIP; headless Chromium
(``/usr/bin/chromium``) viewers in stable mode (``localStorage``), so the page plays
HLS through the vendored hls.js.

Each try, a fresh viewer context opens the watch page; recorded: seconds from
``goto`` to ``#lm-player[data-mode=hls][data-state=playing]``; after ``--settle``
seconds of play, ``LM.hls.behind()`` (now minus the PROGRAM-DATE-TIME of the frame on
screen: the viewer's delay behind the host, packaging included) and
``LM.hls.latency()`` (hls.js's distance to the live edge); then a flash deal is started
through the API and the seconds until the viewer's deal banner shows are recorded
(over the socket, so it should not wait for the video). One JSON line.
Quick run: ``python bench/watch_hls.py --tries 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_app import PASSWORD, start_live_app  # noqa: E402

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]
STABLE_JS = "() => localStorage.setItem('lm.player.stable', '1')"
PLAYING = "#lm-player[data-mode=hls][data-state=playing]"


async def one_viewer(
    browser: Any, base: str, special_id: int, host_page: Any, product_id: int, args: Any
) -> dict[str, float | None]:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(base + "/healthz")
        await page.evaluate(STABLE_JS)
        opened = time.monotonic()
        await page.goto(f"{base}/specials/{special_id}")
        await page.locator(PLAYING).wait_for(timeout=args.timeout * 1000)
        playing = time.monotonic() - opened
        await asyncio.sleep(args.settle)
        behind = await page.evaluate("() => LM.hls.behind()")
        latency = await page.evaluate("() => LM.hls.latency()")
        deal = {"product_id": product_id, "discount_pct": 10, "duration_s": 30}
        deal |= {"quantity": 5, "per_buyer_limit": 1}
        started = time.monotonic()
        created = await host_page.evaluate(
            "([path, body]) => LM.api(path, {method: 'POST', body})",
            [f"/api/v1/specials/{special_id}/deals", deal],
        )
        await page.locator("#lm-deal-banner").wait_for(state="visible", timeout=args.timeout * 1000)
        banner = time.monotonic() - started
        await host_page.evaluate(
            "(path) => LM.api(path, {method: 'DELETE'})",
            f"/api/v1/specials/{special_id}/deals/{created['id']}",
        )
        return {"playing": playing, "behind": behind, "latency": latency, "banner": banner}
    finally:
        await context.close()


def _stats(values: list[float | None]) -> dict[str, Any]:
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"samples": values}
    return {
        "p50": round(statistics.median(known), 3),
        "max": round(known[-1], 3),
        "samples": [None if v is None else round(v, 3) for v in values],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    from playwright.async_api import async_playwright

    from livemarket.web.typedefs import ENGINE_KEY
    from tests.checkout.checkout_seed import Seed
    from tests.streamer.peers import start_publisher, whip_signal

    tries: list[dict[str, float | None]] = []
    with tempfile.TemporaryDirectory() as folder:
        live = await start_live_app(Path(folder), "watch hls")
        runner, app, base = live.runner, live.app, live.base
        special_id, host_id, key = live.special_id, live.host_id, live.key
        try:
            async with aiohttp.ClientSession() as http:
                whip = whip_signal(http, f"{base}/whip/{special_id}", key)
                publisher = await start_publisher(whip, codec="video/H264")
                try:
                    async with async_playwright() as playwright:
                        browser = await playwright.chromium.launch(
                            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                        )
                        host_context = await browser.new_context()
                        host_page = await host_context.new_page()
                        await host_page.goto(f"{base}/login?next=/")
                        await host_page.locator("#lm-username").fill("host")
                        await host_page.locator("#lm-password").fill(PASSWORD)
                        await host_page.locator("#lm-login [type=submit]").click()
                        await host_page.wait_for_url(f"{base}/")
                        for _ in range(args.tries):
                            seed = Seed(app[ENGINE_KEY], host_id, special_id)
                            product_id = await seed.product(stock=9)
                            tries.append(
                                await one_viewer(
                                    browser, base, special_id, host_page, product_id, args
                                )
                            )
                        await browser.close()
                finally:
                    await publisher.close()
        finally:
            await runner.cleanup()
    return {
        "bench": "watch_hls",
        "tries": args.tries,
        "settle_s": args.settle,
        "to_playing_s": _stats([t["playing"] for t in tries]),
        "behind_host_s": _stats([t["behind"] for t in tries]),
        "hlsjs_latency_s": _stats([t["latency"] for t in tries]),
        "deal_banner_s": _stats([t["banner"] for t in tries]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds of play first")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
