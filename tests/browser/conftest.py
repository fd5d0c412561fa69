"""Shared fixtures for every browser test: Debian's Chromium via Playwright, the real app live.

Every test in this folder is skipped, with the reason, unless LIVEMARKET_TEST_BROWSER=1
(CI sets it, so there they always run). The browser is ``/usr/bin/chromium`` (never a
downloaded one) with fake camera and microphone, so WebRTC pages work headless.

The server is the real application (``create_app`` from ``tests/conftest.py``'s ``app``
fixture, on a migrated SQLite file) served by pytest-aiohttp on 127.0.0.1 with a free
port, in the test's own event loop; Playwright's async API shares that loop, so tests
can seed the database and drive the browser in one ``async def``. Override ``settings``
in a test module to run the app differently.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

BROWSER_ENV = "LIVEMARKET_TEST_BROWSER"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--allow-loopback-in-peer-connection",
)
#: Default waits (ms): generous for a 2-core machine shared by many processes.
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def browser_enabled() -> bool:
    return os.environ.get(BROWSER_ENV, "") not in ("", "0")


@pytest.fixture(autouse=True)
def _require_browser() -> None:
    """Skip every browser test unless asked for (CI asks)."""
    if not browser_enabled():
        pytest.skip(f"browser tests need {BROWSER_ENV}=1 and {CHROMIUM} (CI sets it)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@dataclass
class LiveServer:
    """The running app: ``url("/path")`` is an absolute http://127.0.0.1:<port> URL."""

    app: web.Application
    base: str

    def url(self, path: str = "/") -> str:
        return self.base + path


@pytest.fixture
async def live_server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], app: web.Application
) -> LiveServer:
    """The real application listening on 127.0.0.1 (random port) until the test ends."""
    server = await aiohttp_server(app, host="127.0.0.1")
    return LiveServer(app=app, base=str(server.make_url("")).rstrip("/"))


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium (headless, fake media devices), closed after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class PageErrors:
    """Uncaught exceptions in the pages' scripts; a working page has none."""

    errors: list[str] = field(default_factory=list)


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


NewPage = Callable[..., Awaitable[Any]]


@pytest.fixture
async def new_page(browser: Any, page_errors: PageErrors) -> AsyncIterator[NewPage]:
    """``await new_page(locale="en-US", viewport=PHONE)``: a page in a fresh context.

    Each call is a separate browser profile (its own cookies), so one test can be a
    host and a viewer at once. Camera and microphone are granted.
    """
    contexts: list[Any] = []

    async def make(
        *,
        locale: str = "ko-KR",
        viewport: dict[str, int] | None = None,
        timezone_id: str = "Asia/Seoul",
        **options: Any,
    ) -> Any:
        context = await browser.new_context(
            locale=locale,
            viewport=viewport or DESKTOP,
            timezone_id=timezone_id,
            permissions=["camera", "microphone"],
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: page_errors.errors.append(f"{page.url}: {exc}"))
        return page

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture
async def page(new_page: NewPage) -> Any:
    """One Korean-locale desktop page."""
    return await new_page()


async def login_as(
    page: Any, server: LiveServer, username: str, password: str, next_path: str = "/"
) -> None:
    """Log in through the real ``/login`` form and wait until it has moved on to ``next_path``."""
    from urllib.parse import quote

    await page.goto(server.url("/login?next=" + quote(next_path, safe="/")))
    await page.locator("#lm-username").fill(username)
    await page.locator("#lm-password").fill(password)
    await page.locator("#lm-login [type=submit]").click()
    await page.wait_for_url(re.compile(re.escape(server.url(next_path)) + r"$"))


# WCAG 2.x contrast of every visible text against the background it is painted on:
# 4.5:1, or 3:1 for large text (24px, or 18.66px bold). Walks up to the first opaque
# background; text over images or video is not judged.
_CONTRAST_JS = r"""
() => {
  function rgba(value) {
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function luminance(c) {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function background(el) {
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none" || node.tagName === "VIDEO") return null;
      const bg = rgba(style.backgroundColor);
      if (bg && bg.a >= 0.99) return bg;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  }
  const problems = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    if (style.visibility === "hidden" || rect.width <= 1 || rect.height <= 1) continue;
    if (el.closest("[hidden], script, style, option")) continue;
    const fg = rgba(style.color);
    const bg = background(el);
    if (!fg || !bg) continue;
    const opacity = Number(style.opacity);
    if (opacity < 1 || fg.a < 1) continue;  // disabled or decorative states
    const l1 = luminance(fg), l2 = luminance(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      const text = el.textContent.trim().slice(0, 40);
      problems.push(`${ratio.toFixed(2)}:1 ${el.tagName.toLowerCase()}.${el.className} "${text}"`);
    }
  }
  return problems;
}
"""


async def low_contrast(page: Any) -> list[str]:
    """Visible texts below the WCAG AA contrast ratio on ``page`` (empty when all pass)."""
    return list(await page.evaluate(_CONTRAST_JS))
