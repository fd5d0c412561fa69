"""Real Chromium: an operator adds, tests, disables and removes a simulcast destination."""

from __future__ import annotations

from livemarket.accounts.service import create_user
from livemarket.simulcast.models import SimulcastDestination
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
from tests.simulcast.ingest import RtmpIngest, ingest
from tests.web.realtime.conftest import add_special

__all__ = ["ingest"]  # the nginx-rtmp fixture

KEY = "console-key-Zt83"


async def test_an_operator_manages_destinations_and_never_sees_a_key_again(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors, ingest: RtmpIngest
) -> None:
    sessions = live_server.app[SESSIONS_KEY]
    await create_user(sessions, username="op", password=PASSWORD, role="operator")
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    page = await new_page(locale="en-US")
    await login_as(page, live_server, "op", PASSWORD, next_path="/console/simulcast")

    form = page.locator("#lm-destination-new")
    await form.locator("[name=name]").fill("Bad")
    await form.locator("[name=url]").fill("http://not-rtmp.example/live")
    await form.locator("[name=stream_key]").fill(KEY)
    await form.locator("[name=special_id]").fill(str(special_id))
    await form.locator("[type=submit]").click()
    await form.locator("[data-form-error]").filter(has_text="rtmp://").wait_for()

    await form.locator("[name=name]").fill("Grip")
    await form.locator("[name=url]").fill(ingest.url())
    await form.locator("[name=stream_key]").fill(KEY)
    await form.locator("[name=special_id]").fill(str(special_id))
    await form.locator("[type=submit]").click()
    row = page.locator("#lm-destinations tr[data-destination-id]").filter(has_text="Grip")
    await row.wait_for()
    assert "••••Zt83" in (await row.text_content() or "")
    assert KEY not in await page.content()

    await row.locator("[data-test]").click()
    result = row.locator("[data-test-result][data-ok=true]")
    await result.wait_for(timeout=30_000)
    assert await result.text_content() == "Received by the ingest"

    await row.locator("[data-enabled]").uncheck()
    await page.wait_for_function(
        "() => LM.api('/api/v1/simulcast/destinations').then(p => p.items[0].enabled === false)"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    await row.locator("[data-remove]").click()
    await row.wait_for(state="detached")
    async with sessions() as db:
        assert await db.get(SimulcastDestination, 1) is None
    assert page_errors.errors == []
