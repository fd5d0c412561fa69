"""What hosts and viewers are told, in their language: refusals, ended shows, defaults."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update

from livemarket.accounts.service import create_user
from livemarket.bus.events import special_topic
from livemarket.scheduler.events import planned_deal_refused
from livemarket.scheduler.models import Special
from livemarket.web.i18n import load_catalogs
from livemarket.web.typedefs import BUS_KEY, ENGINE_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.checkout.checkout_seed import seed_special
from tests.conftest import PASSWORD

CATALOGS = load_catalogs()


async def _host_and_special(server: LiveServer) -> tuple[int, int]:
    host = await create_user(
        server.app[SESSIONS_KEY], username="host", password=PASSWORD, role="host"
    )
    seed = await seed_special(server.app[ENGINE_KEY], host.id)
    product_id = await seed.product(stock=40, price=12_900)
    return seed.special_id, product_id


async def test_a_refused_planned_deal_is_explained_in_the_studio(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """The runner's ``planned_deal.refused`` shows in the studio: which product, and why."""
    special_id, product_id = await _host_and_special(live_server)
    studio: Any = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator(f"[data-deal-lineup] [data-pin='{product_id}']").wait_for()
    await studio.locator("[data-deal-lineup] [data-pin]:not([disabled])").first.wait_for()
    event = planned_deal_refused(
        special_id, 7, product_id, "deal_already_active", "this product already has a deal"
    )
    await live_server.app[BUS_KEY].publish(special_topic(special_id), event)
    error = studio.locator("[data-deal-error]")
    await error.filter(has_text="did not start").wait_for()
    text = await error.inner_text()
    assert "유자청" in text and "already has a deal running" in text
    assert await error.get_attribute("role") == "alert"
    assert page_errors.errors == []


async def test_an_ended_show_offers_no_go_live_in_the_studio(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """An ended special's studio shows it ended, with no "Go live" and no camera pickers."""
    special_id, _ = await _host_and_special(live_server)
    async with live_server.app[ENGINE_KEY].begin() as conn:
        await conn.execute(
            update(Special.__table__).where(Special.id == special_id).values(status="ended")
        )
    studio: Any = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("#lm-broadcast[data-state=ended]").wait_for()
    assert await studio.locator("[data-lm-go-live]").is_hidden()
    assert await studio.locator("[data-lm-end]").is_hidden()
    assert await studio.locator("[data-lm-broadcast-state]").inner_text() == "Broadcast ended"
    assert await studio.locator("[data-lm-camera]").is_disabled()
    await studio.locator("[data-lm-status-notice]").filter(has_text="has ended").wait_for()
    assert page_errors.errors == []


async def test_studio_texts_and_the_discount_cap_speak_korean(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """No English in the Korean studio's chat panel; a 60 % deal is refused in Korean."""
    ko = CATALOGS["ko"]
    special_id, _ = await _host_and_special(live_server)
    studio: Any = await new_page(locale="ko-KR")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    chat = studio.locator("[data-lm-chat]")
    await chat.get_by_label(ko["chat.slow_mode"]).wait_for()
    options = await chat.locator("[data-lm-chat-slow] option").all_inner_texts()
    assert options[0] == ko["chat.slow_off"]
    assert options[1] == "5초"
    assert ko["chat.like"] in await chat.locator("[data-lm-like]").inner_text()
    assert await chat.get_by_label(ko["chat.message_label"], exact=True).count() == 1
    english = re.compile(r"\b(slow mode|off|like|nickname|message|send)\b", re.IGNORECASE)
    assert not english.search(await chat.inner_text())
    labels = await chat.evaluate(
        "el => [...el.querySelectorAll('[aria-label]')].map(n => n.getAttribute('aria-label'))"
    )
    assert not [label for label in labels if english.search(label)]

    discount = studio.locator("[data-deal-form] input[name=discount_pct]")
    await discount.fill("60")
    message = await discount.evaluate("el => (el.checkValidity(), el.validationMessage)")
    assert message == ko["deals.discount_cap"].replace("{max}", "50")
    await studio.get_by_text(ko["deals.discount_hint"].replace("{cap}", "50")).wait_for()
    await discount.fill("40")
    assert await discount.evaluate("el => el.checkValidity()")
    assert page_errors.errors == []


async def test_default_nickname_follows_the_page_language(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A new English viewer is "Viewer1234"; switching to Korean makes it "시청자1234"."""
    special_id, _ = await _host_and_special(live_server)
    viewer: Any = await new_page(locale="en-US")
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    nickname = viewer.locator("[data-lm-chat-nick-input]")
    await nickname.wait_for()
    english = await nickname.input_value()
    assert re.fullmatch(r"Viewer\d{4}", english), english
    await viewer.get_by_role("navigation", name="Language").get_by_role("link").first.click()
    await viewer.wait_for_function("document.documentElement.lang === 'ko'")
    await nickname.wait_for()
    await viewer.wait_for_function(
        "() => document.querySelector('[data-lm-chat-nick-input]').value !== ''"
    )
    assert await nickname.input_value() == "시청자" + english[-4:]
    assert page_errors.errors == []
