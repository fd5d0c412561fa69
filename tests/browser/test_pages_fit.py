"""Every page fits a phone (320-430 px) without sideways scrolling and passes axe-core.

Both languages, the five pages a person meets: schedule, watch, studio, console, login.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livemarket.demo.seed import SeedReport, seed_demo_season
from livemarket.web.typedefs import SESSIONS_KEY, SETTINGS_KEY
from tests.browser.axe import axe_violations
from tests.browser.conftest import DESKTOP, LiveServer, NewPage, PageErrors, login_as

WIDTHS = (320, 390, 430)
OVERFLOW_JS = "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
#: The widest elements reaching past the right edge: what a failure names.
CULPRITS_JS = """() => {
  const w = window.innerWidth, out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 0.5 && r.width > 0) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
    }
  }
  return out.slice(0, 8);
}"""


async def seed(server: LiveServer, data_dir: Path) -> SeedReport:
    settings = server.app[SETTINGS_KEY]
    return await seed_demo_season(
        server.app[SESSIONS_KEY],
        zone=settings.zone,
        now=datetime.now(UTC),
        season_start=None,
        data_dir=data_dir,
    )


def page_paths(report: SeedReport) -> dict[str, str]:
    special = report.live_special_id
    return {
        "schedule": "/",
        "watch": f"/specials/{special}",
        "studio": f"/studio/{special}",
        "console": "/console",
        "login": "/login",
    }


async def operator_page(
    server: LiveServer, new_page: NewPage, report: SeedReport, locale: str
) -> Any:
    # bypass_csp: axe is injected as a script tag, which the pages' policy forbids.
    page = await new_page(locale=locale, viewport=DESKTOP, bypass_csp=True)
    assert report.operator.password is not None
    await login_as(page, server, report.operator.username, report.operator.password)
    return page


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
async def test_no_page_scrolls_sideways_on_a_phone(
    live_server: LiveServer,
    new_page: NewPage,
    page_errors: PageErrors,
    tmp_path: Path,
    locale: str,
) -> None:
    """At 320, 390 and 430 px no page is wider than the window, in Korean or English."""
    report = await seed(live_server, tmp_path)
    staff = await operator_page(live_server, new_page, report, locale)
    viewer = await new_page(locale=locale)
    paths = page_paths(report)
    visits = [(staff, name, path) for name, path in paths.items()]
    # A viewer's watch page has the nickname form, which staff do not see.
    visits += [(viewer, f"{name} (viewer)", paths[name]) for name in ("schedule", "watch")]
    too_wide = []
    for page, name, path in visits:
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 800})
            await page.goto(live_server.url(path))
            await page.wait_for_load_state("networkidle")
            if name == "watch (viewer)":
                await page.locator("[data-lm-chat-nick]").wait_for()
            scroll_width, inner = await page.evaluate(OVERFLOW_JS)
            if scroll_width > inner:
                culprits = await page.evaluate(CULPRITS_JS)
                too_wide.append(f"{name} @{width}: {scroll_width} px {culprits}")
    assert too_wide == [], "\n".join(too_wide)
    assert page_errors.errors == []


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
async def test_pages_have_no_serious_accessibility_violations(
    live_server: LiveServer,
    new_page: NewPage,
    page_errors: PageErrors,
    tmp_path: Path,
    locale: str,
) -> None:
    """axe-core finds nothing serious or critical on the five pages, phone and desktop."""
    report = await seed(live_server, tmp_path)
    page = await operator_page(live_server, new_page, report, locale)
    found = []
    for name, path in page_paths(report).items():
        for viewport in ({"width": 390, "height": 844}, DESKTOP):
            await page.set_viewport_size(viewport)
            await page.goto(live_server.url(path))
            await page.wait_for_load_state("networkidle")
            found += [f"{name} @{viewport['width']}: {v}" for v in await axe_violations(page)]
    # The pages as a viewer sees them (signed out: login form, nickname form).
    stranger = await new_page(locale=locale, bypass_csp=True)
    for name in ("login", "watch", "schedule"):
        await stranger.goto(live_server.url(page_paths(report)[name]))
        await stranger.wait_for_load_state("networkidle")
        found += [f"{name} (viewer): {v}" for v in await axe_violations(stranger)]
    assert found == [], "\n".join(found)
    assert page_errors.errors == []
