"""Live chat in two real Chromium pages: a message typed in one appears in the other."""

from __future__ import annotations

from livemarket.accounts.service import create_user
from livemarket.web.typedefs import SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special

SCRIPT_NAME = "<script>window.__pwned=1</script>진행자"


async def test_chat_between_two_pages_with_markup_shown_as_text(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Viewer and host chat both ways; a ``<script>`` name is displayed, never run."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(
        sessions, username="host", password=PASSWORD, role="host", display_name=SCRIPT_NAME
    )
    special_id = await add_special(sessions, host.id)
    watch = f"/specials/{special_id}"

    viewer = await new_page()
    await viewer.goto(live_server.url(watch))
    host_page = await new_page()
    await login_as(host_page, live_server, "host", PASSWORD, next_path=watch)

    for page in (viewer, host_page):
        await page.locator("[data-lm-viewers]").filter(has_text="2").wait_for()

    box = viewer.locator("[data-lm-chat-input]")
    await box.fill("안녕하세요, 딸기 아직 있나요?")
    await box.press("Enter")
    line = host_page.locator(".lm-chat__msg", has_text="딸기 아직 있나요?")
    await line.wait_for()
    assert await box.input_value() == ""

    host_box = host_page.locator("[data-lm-chat-input]")
    await host_box.fill("네, 50% 할인 중이에요!")
    await host_page.locator("[data-lm-chat-send]").click()
    from_host = viewer.locator(".lm-chat__msg", has_text="50% 할인 중이에요")
    await from_host.wait_for()
    assert await from_host.locator(".lm-chat__nick").text_content() == SCRIPT_NAME
    assert await from_host.locator(".lm-chat__role").count() == 1
    assert await viewer.evaluate("window.__pwned") is None
    assert await viewer.locator(".lm-chat__msg script").count() == 0

    # The host deletes the viewer's message: it vanishes from both pages.
    await line.locator("button", has_text="삭제").click()
    await viewer.locator(".lm-chat__msg", has_text="딸기 아직 있나요?").wait_for(state="detached")
    await line.wait_for(state="detached")

    await viewer.locator("[data-lm-like]").click()
    await host_page.locator("[data-lm-likes]").filter(has_text="1").wait_for()
    assert page_errors.errors == []


async def test_chat_log_stops_following_when_scrolled_up(
    live_server: LiveServer, new_page: NewPage
) -> None:
    """New messages keep the log at the bottom, unless the viewer scrolled up to read."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host2", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    host_page = await new_page()
    await login_as(host_page, live_server, "host2", PASSWORD, next_path=f"/specials/{special_id}")
    viewer = await new_page()
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    await viewer.locator("[data-lm-viewers]").filter(has_text="2").wait_for()
    send = host_page.locator("[data-lm-chat-input]")
    for i in range(40):
        await send.fill(f"line {i}")
        await send.press("Enter")
    await viewer.locator(".lm-chat__msg", has_text="line 39").wait_for()
    at_bottom = "(l => l.scrollHeight - l.scrollTop - l.clientHeight < 40)"
    log = viewer.locator("[data-lm-chat-log]")
    assert await log.evaluate(f"l => {at_bottom}(l)")
    await log.evaluate("l => { l.scrollTop = 0; }")
    await send.fill("after scrolling up")
    await send.press("Enter")
    await viewer.locator(".lm-chat__msg", has_text="after scrolling up").wait_for()
    assert await log.evaluate("l => l.scrollTop") == 0
    jump = viewer.locator("[data-lm-chat-jump]")
    await jump.click()
    assert await log.evaluate(f"l => {at_bottom}(l)")
    assert await jump.is_hidden()


async def test_viewer_sets_a_nickname_from_the_chat_panel(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A viewer renames themself; their next message carries the new name; bad names are refused."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host3", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    viewer = await new_page()
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    nick = viewer.locator("[data-lm-chat-nick-input]")
    await nick.wait_for()
    await nick.fill("<b>x</b>")
    await nick.press("Enter")
    await viewer.locator("[data-lm-chat-notice]").filter(has_text="letters").wait_for()
    await nick.fill("김철수")
    await nick.press("Enter")
    await viewer.locator("[data-lm-chat-notice]").filter(has_text="김철수").wait_for()
    await viewer.wait_for_function("() => window.LM.realtime.connected()")
    box = viewer.locator("[data-lm-chat-input]")
    await box.fill("이름 바꿨어요")
    await box.press("Enter")
    line = viewer.locator(".lm-chat__msg", has_text="이름 바꿨어요")
    await line.wait_for()
    assert await line.locator(".lm-chat__nick").text_content() == "김철수"
    assert page_errors.errors == []
