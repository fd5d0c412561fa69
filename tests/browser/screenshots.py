"""Take the README's screenshots: ``python -m tests.browser.screenshots [docs/screenshots]``.

Runs the real app with the demo season on a throwaway SQLite file on 127.0.0.1, logs in
as the demo operator, and saves PNGs of the schedule, a watch page and the studio
(desktop and phone), and of the operator's dashboard, season report, catalogue and
accounts. Not a test: it writes files for people to look at.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from livemarket.demo.seed import seed_demo_season
from livemarket.storage.migrate import upgrade
from livemarket.web.app import create_app
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer, login_as
from tests.conftest import build_settings


async def _shoot(page: Any, url: str, path: Path, *, reload: bool = True) -> None:
    if reload:
        await page.goto(url)
    await page.wait_for_timeout(1500)  # let panels connect and counters settle
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(path))
    print(path)


async def _wait(page: Any, selector: str) -> None:
    """Wait for ``selector``; a screenshot without it is still worth taking, so only warn."""
    try:
        await page.wait_for_selector(selector, timeout=20_000)
    except Exception as exc:  # noqa: BLE001 - report and carry on
        print(f"warning: {selector} not reached: {exc}", file=sys.stderr)


async def _reach(page: Any, button: str, selector: str) -> None:
    await page.locator(button).click()
    await _wait(page, selector)


async def _chat(page: Any, text: str) -> None:
    await page.locator("[data-lm-chat-input]").fill(text)
    await page.locator("[data-lm-chat-send]").click()
    await page.wait_for_timeout(300)


async def take(out: Path) -> None:
    from playwright.async_api import async_playwright

    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = f"sqlite+aiosqlite:///{data / 'livemarket.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        settings = build_settings(data, database_url=url)
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            report = await seed_demo_season(
                app[SESSIONS_KEY],
                zone=settings.zone,
                now=datetime.now(UTC),
                season_start=None,
                data_dir=data,
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
                host = await browser.new_context(
                    viewport=DESKTOP,
                    locale="en-US",
                    timezone_id="Asia/Seoul",
                    permissions=["camera", "microphone"],
                )
                host_page = await host.new_page()
                assert report.operator.password is not None
                await login_as(
                    host_page,
                    live,
                    report.operator.username,
                    report.operator.password,
                    f"/studio/{special}",
                )
                # Go live from the studio (fake camera), so the watch page has a picture.
                await _reach(host_page, "[data-lm-go-live]", "#lm-broadcast[data-state=live]")

                page = await viewer.new_page()
                await _shoot(page, live.url("/"), out / "schedule.png")
                await page.goto(live.url(f"/specials/{special}"))
                await _wait(page, "#lm-player[data-state=playing]")
                for text in ("안녕하세요! 송편 주문했어요", "배송은 언제 되나요?"):
                    await _chat(page, text)
                await _chat(host_page, "내일 오전 발송됩니다. 감사합니다!")
                await _shoot(page, page.url, out / "watch.png", reload=False)
                phone = await browser.new_context(
                    viewport=PHONE,
                    locale="ko-KR",
                    timezone_id="Asia/Seoul",
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                )
                phone_page = await phone.new_page()
                await phone_page.goto(live.url(f"/specials/{special}"))
                await _wait(phone_page, "#lm-player[data-state=playing]")
                await _shoot(phone_page, phone_page.url, out / "watch-phone.png", reload=False)
                await _shoot(host_page, host_page.url, out / "studio.png", reload=False)
                # The operator's pages (the studio's login is the demo operator's).
                for path, name, ready in (
                    (f"/console/specials/{special}/dashboard", "dashboard", "[data-lm-tile]"),
                    ("/console/report", "report", "[data-lm-report-chart]"),
                    ("/console/catalogue", "catalogue", "body[data-lm-catalogue=ready]"),
                    ("/console/hosts", "hosts", "body[data-lm-people=ready]"),
                ):
                    await host_page.goto(live.url(path))
                    await _wait(host_page, ready)
                    await _shoot(host_page, host_page.url, out / f"{name}.png", reload=False)
                await browser.close()
        finally:
            await server.close()


if __name__ == "__main__":
    asyncio.run(take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
