"""Take the README's screenshots: ``python -m tests.browser.screenshots [docs/screenshots]``.

Runs the real app with the demo season on a throwaway SQLite file on 127.0.0.1, logs in
as the demo operator, and saves PNGs of the schedule, a watch page and the studio
(desktop and phone). Not a test: it writes files for people to look at.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from livemarket.config import load_settings
from livemarket.demo.seed import seed_demo_season
from livemarket.storage.migrate import upgrade
from livemarket.web.app import create_app
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer, login_as


async def _shoot(page: Any, url: str, path: Path, *, full_page: bool = False) -> None:
    await page.goto(url)
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(1500)  # let panels connect and the video start
    await page.screenshot(path=str(path), full_page=full_page)
    print(path)


async def take(out: Path) -> None:
    from playwright.async_api import async_playwright

    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = f"sqlite+aiosqlite:///{data / 'livemarket.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        settings = load_settings({}, data_dir=data, database_url=url)
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            report = await seed_demo_season(
                app[SESSIONS_KEY], zone=settings.zone, now=datetime.now(UTC),
                season_start=None, data_dir=data,
            )
            live = LiveServer(app=app, base=str(server.make_url("")).rstrip("/"))
            special = report.live_special_id
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
                )
                viewer = await browser.new_context(
                    viewport=DESKTOP, locale="ko-KR", timezone_id="Asia/Seoul"
                )
                page = await viewer.new_page()
                await _shoot(page, live.url("/"), out / "schedule.png")
                await _shoot(page, live.url(f"/specials/{special}"), out / "watch.png")
                phone = await browser.new_context(
                    viewport=PHONE, locale="ko-KR", timezone_id="Asia/Seoul",
                    device_scale_factor=2, is_mobile=True, has_touch=True,
                )
                phone_page = await phone.new_page()
                await _shoot(phone_page, live.url(f"/specials/{special}"), out / "watch-phone.png")
                host = await browser.new_context(
                    viewport=DESKTOP, locale="en-US", timezone_id="Asia/Seoul",
                    permissions=["camera", "microphone"],
                )
                host_page = await host.new_page()
                assert report.operator.password is not None
                await login_as(host_page, live, report.operator.username,
                               report.operator.password, f"/studio/{special}")
                await _shoot(host_page, live.url(f"/studio/{special}"), out / "studio.png")
                await browser.close()
        finally:
            await server.close()


if __name__ == "__main__":
    asyncio.run(take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
