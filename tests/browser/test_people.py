"""The console's accounts page in Chromium: a host created, handed a password, disabled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from livemarket.accounts.models import User
from livemarket.accounts.service import create_user
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD


async def test_an_operator_creates_a_host_who_logs_in_then_disables_them(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A taken username is refused beside the field; the new host's password is shown once
    and works on the login page; after "Disable" the host's page session ends."""
    sessions = live_server.app[SESSIONS_KEY]
    await create_user(sessions, username="op", password=PASSWORD, role="operator")
    await create_user(sessions, username="joon", password=PASSWORD, role="host")
    page: Any = await new_page(locale="en-US")
    await page.context.add_cookies([{"name": "lang", "value": "en", "url": live_server.url("/")}])
    await login_as(page, live_server, "op", PASSWORD, next_path="/console/hosts")
    await page.wait_for_selector("body[data-lm-people=ready]")
    form = page.locator("#lm-person-form")
    await form.locator("[name=username]").fill("joon")
    await form.locator("[name=display_name]").fill("Twin")
    await form.get_by_role("button", name="Create").click()
    error = form.locator("[data-error-for=username]")
    await error.wait_for(state="visible")
    assert await error.inner_text() == "That username is taken."

    await form.locator("[name=username]").fill("minji")
    await form.locator("[name=display_name]").fill("Minji Kim")
    await form.get_by_role("button", name="Create").click()
    secret = page.locator("[data-secret-value]")
    await secret.wait_for(state="visible")
    password = await secret.inner_text()
    await page.locator("[data-secret-close]").click()
    await page.locator("[data-person=minji]").wait_for()

    host: Any = await new_page(locale="en-US")
    await login_as(host, live_server, "minji", password, next_path="/")
    await page.get_by_role("button", name="Disable: Minji Kim").click()
    await page.locator("[data-person=minji]", has_text="Disabled").wait_for()
    async with sessions() as db:
        user = await db.scalar(select(User).where(User.username == "minji"))
        assert user is not None and user.disabled_at is not None
    me = await host.evaluate("() => fetch('/api/v1/session').then((r) => r.json())")
    assert me.get("user") is None
    assert page_errors.errors == []
