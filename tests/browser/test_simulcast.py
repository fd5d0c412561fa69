"""Real Chromium: the studio shows where the special also airs, live from the socket."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings, load_settings
from livemarket.simulcast.service import create_destination
from livemarket.web.typedefs import SESSIONS_KEY, SIMULCAST_BOX_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
from tests.simulcast.ingest import RtmpIngest, ingest
from tests.streamer.peers import start_publisher
from tests.web.realtime.conftest import add_special

__all__ = ["ingest"]  # the nginx-rtmp fixture


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


async def test_the_studio_lists_each_destination_and_its_state_as_it_changes(
    live_server: LiveServer,
    new_page: NewPage,
    page_errors: PageErrors,
    ingest: RtmpIngest,
) -> None:
    """H.264 published: the destination turns live; its ingest down: retrying, with a reason."""
    app = live_server.app
    sessions = app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions() as db:
        await create_destination(
            db, app[SIMULCAST_BOX_KEY], name="Grip", url=ingest.url(), stream_key="grip-key-1234",
            special_id=special_id,
        )  # fmt: skip
        key = await stream_key_of(db, host.id)

    studio = await new_page(locale="en-US")
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("#lm-simulcast").wait_for()

    async with aiohttp.ClientSession() as http:

        async def signal(offer: str) -> str:
            response = await http.post(
                live_server.url(f"/whip/{special_id}"),
                data=offer,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"},
            )
            assert response.status == 201, await response.text()
            return await response.text()

        publisher = await start_publisher(signal, codec="video/H264")
        try:
            item = studio.locator("#lm-simulcast li[data-destination-id]")
            await item.filter(has_text="Grip").wait_for(timeout=20_000)
            live = studio.locator("#lm-simulcast .lm-simulcast__state[data-state=live]")
            await live.wait_for(timeout=20_000)
            assert await live.text_content() == "live"
            await ingest.stop()
            retrying = studio.locator("#lm-simulcast .lm-simulcast__state[data-state=retrying]")
            await retrying.wait_for(timeout=20_000)
            reason = await studio.locator("#lm-simulcast .lm-simulcast__reason").text_content()
            assert reason
            assert "grip-key-1234" not in reason
        finally:
            await publisher.close()
    assert page_errors.errors == []
