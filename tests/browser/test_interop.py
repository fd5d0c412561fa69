"""Streams from encoders nobody here wrote, played by real Chromium on the watch page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors
from tests.conftest import PASSWORD
from tests.streamer.peers import start_high_profile_publisher, whip_signal
from tests.web.realtime.conftest import add_special

#: The codec the page's receiver negotiated, and its decoded frame count.
INBOUND_VIDEO_JS = """async () => {
  const video = document.getElementById("lm-player-video");
  const frames = video.getVideoPlaybackQuality().totalVideoFrames;
  const pc = window.__peers.filter((p) => p.connectionState === "connected").pop();
  if (!pc) return {frames, codec: null};
  const report = await pc.getStats();
  for (const stat of report.values()) {
    if (stat.type === "inbound-rtp" && stat.kind === "video" && stat.codecId) {
      const codec = report.get(stat.codecId);
      return {frames, codec: codec.mimeType, fmtp: codec.sdpFmtpLine || "",
              width: stat.frameWidth || 0};
    }
  }
  return {frames, codec: null};
}"""


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 only (Chromium runs with --allow-loopback-in-peer-connection)."""
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


async def test_a_high_profile_h264_stream_plays_in_chromium(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """x264 High (64001f, what OBS sends) by WHIP: the Chromium viewer is answered and plays it.

    Chromium's offer lists no High profile; it is answered with its best H.264
    profile in the same packetization-mode and decodes the High stream as is.
    """
    from tests.browser.test_keyframes import RECORD_PEERS_JS

    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)

    async with aiohttp.ClientSession() as http:
        whip = whip_signal(http, live_server.url(f"/whip/{special_id}"), key)
        pc, camera = await start_high_profile_publisher(whip)
        try:
            relay = live_server.app[RELAYS_KEY].get(special_id)
            assert relay.codec("video").label.startswith("video/H264 (High")
            viewer = await new_page(locale="en-US")
            await viewer.add_init_script(RECORD_PEERS_JS)
            await viewer.goto(live_server.url(f"/specials/{special_id}"))
            await viewer.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
            await viewer.wait_for_function(
                "() => document.getElementById('lm-player-video')"
                ".getVideoPlaybackQuality().totalVideoFrames > 30",
                timeout=15_000,
            )
            inbound = await viewer.evaluate(INBOUND_VIDEO_JS)
            assert inbound["codec"] == "video/H264", inbound
            assert "packetization-mode=1" in inbound["fmtp"], inbound
            assert inbound["width"] == 160, inbound
            # what was sent is High profile (SPS profile_idc 100)
            sps = camera.first_packet.index(b"\x00\x00\x01\x67") + 4
            assert camera.first_packet[sps] == 100
        finally:
            await pc.close()
    assert page_errors.errors == []


async def test_the_studio_says_why_the_connection_failed(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A DTLS handshake that fails shows "The connection failed: <reason>" in the studio.

    The WHIP answer's fingerprint is altered on its way to the page, so Chromium
    refuses the relay's certificate and the handshake fails on both sides.
    """
    from tests.browser.conftest import login_as

    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    studio = await new_page(locale="en-US")

    async def corrupt_answer(route: Any) -> None:
        response = await route.fetch()
        body = await response.text()
        if response.status == 201:
            body = re.sub(r"(a=fingerprint:\S+ )([0-9A-F]{2})", r"\g<1>00", body)
        await route.fulfill(response=response, body=body)

    await studio.route(re.compile(r".*/whip/\d+$"), corrupt_answer)
    await login_as(studio, live_server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("[data-lm-camera] option").first.wait_for(state="attached")
    await studio.locator("[data-lm-go-live]").click()
    error = studio.locator("[data-lm-broadcast-error]")
    await error.filter(has_text="The connection failed: DTLS handshake failed").wait_for(
        timeout=20_000
    )
    relay = live_server.app[RELAYS_KEY].get(special_id)
    assert relay.negotiation_failures["publisher"] >= 1
    assert await studio.locator("#lm-broadcast").get_attribute("data-state") != "live"
    assert page_errors.errors == []
