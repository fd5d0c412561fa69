"""Real Chromium publisher: keyframe requests reach it, and a new viewer sees a picture fast."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from livemarket.accounts.service import create_user
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors, login_as
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special

#: Keeps every RTCPeerConnection a page makes, so a test can read its statistics.
RECORD_PEERS_JS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__peers.push(pc);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") window.__connectedAt = performance.now();
    });
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();"""

#: The live peer's outbound video: SSRC, PLIs received, keyframes encoded.
OUTBOUND_VIDEO_JS = """async () => {
  const pc = window.__peers.filter((p) => p.connectionState === "connected").pop();
  if (!pc) return null;
  const report = await pc.getStats();
  for (const stat of report.values()) {
    if (stat.type === "outbound-rtp" && stat.kind === "video") {
      return {ssrc: stat.ssrc, pli: stat.pliCount || 0, keyframes: stat.keyFramesEncoded || 0};
    }
  }
  return null;
}"""


#: When (ms since navigation) the page's peer connection connected, or null.
CONNECTED_AT_JS = """() => window.__connectedAt || null"""

FIRST_FRAME_JS = """() => {
  const video = document.getElementById("lm-player-video");
  return video && video.getVideoPlaybackQuality().totalVideoFrames > 0;
}"""


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 only (Chromium runs with --allow-loopback-in-peer-connection)."""
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


async def _go_live(server: LiveServer, new_page: NewPage) -> tuple[int, Any]:
    sessions = server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    studio = await new_page(locale="en-US")
    await studio.add_init_script(RECORD_PEERS_JS)
    await login_as(studio, server, "host", PASSWORD, next_path=f"/studio/{special_id}")
    await studio.locator("[data-lm-camera] option").first.wait_for(state="attached")
    await studio.locator("[data-lm-go-live]").click()
    await studio.locator("#lm-broadcast[data-state=live]").wait_for(timeout=20_000)
    return special_id, studio


async def test_keyframe_requests_reach_the_chromium_publisher(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """Each keyframe request in the first seconds of a stream arrives as a PLI the publisher counts.

    Those seconds are when Chromium probes bandwidth with RTX padding, so the
    receiver's first synchronization source is the RTX SSRC, not the media's.
    """
    special_id, studio = await _go_live(live_server, new_page)
    relay = live_server.app[RELAYS_KEY].get(special_id)
    deadline = time.monotonic() + 5.0
    while relay.figures()["video"]["frames"] == 0:  # the stream's first keyframe is in
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    outbound = await studio.evaluate(OUTBOUND_VIDEO_JS)
    for attempt in range(3):
        sent = relay.figures()["keyframe_requests"]
        relay.request_keyframe()
        assert relay.figures()["keyframe_requests"] == sent + 1, attempt
        deadline = time.monotonic() + 2.0
        while True:
            now = await studio.evaluate(OUTBOUND_VIDEO_JS)
            if now["pli"] > outbound["pli"]:
                break
            assert time.monotonic() < deadline, (attempt, outbound, now)
            await asyncio.sleep(0.05)
        outbound = now
        await asyncio.sleep(0.6)  # past the throttle's minimum interval
    assert outbound["keyframes"] >= 3
    assert page_errors.errors == []


async def test_a_viewer_joining_just_after_go_live_sees_a_picture_at_once(
    live_server: LiveServer, new_page: NewPage, page_errors: PageErrors
) -> None:
    """A viewer opening the watch page 1 s after go-live decodes a frame soon after connecting.

    Before keyframe requests reached the publisher that took 5-10 s. Timed from the
    viewer's connection (page load and signalling depend on the machine's load;
    bench/first_frame.py measures the whole), with a bound loose for shared CI.
    """
    special_id, _ = await _go_live(live_server, new_page)
    viewer = await new_page(locale="en-US")
    await viewer.add_init_script(RECORD_PEERS_JS)
    await asyncio.sleep(1.0)
    await viewer.goto(live_server.url(f"/specials/{special_id}"))
    await viewer.wait_for_function(CONNECTED_AT_JS, timeout=20_000, polling=20)
    connected_at = await viewer.evaluate(CONNECTED_AT_JS)
    await viewer.wait_for_function(FIRST_FRAME_JS, timeout=20_000, polling=20)
    first_frame_at = await viewer.evaluate("() => performance.now()")
    waited = (first_frame_at - connected_at) / 1000
    assert waited < 3.0, waited
    assert page_errors.errors == []
