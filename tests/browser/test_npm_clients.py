"""Independent WHIP/WHEP clients from npm, in Chromium: Eyevinn's publisher and player.

``@eyevinn/whip-web-client`` publishes the fake camera by WHIP; ``@eyevinn/webrtc-player``
plays it by WHEP. Both are installed from the registry and bundled by
``tests/interop/npm/build.sh`` (CI runs it); nothing is fetched at test time.
Skipped with the reason when the bundle is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special

BUNDLE = Path(__file__).resolve().parents[1] / "interop" / "npm" / "build" / "eyevinn.js"

#: Publish the fake camera with WHIPClient; with ``noTrickleIce`` false it asks the
#: endpoint (OPTIONS) whether PATCH is allowed before it decides.
PUBLISH_JS = """async ([endpoint, key, noTrickleIce]) => {
  const media = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const client = new window.Eyevinn.WHIPClient({
    endpoint, opts: {authkey: key, noTrickleIce, timeout: 2000, iceServers: []},
  });
  await client.ingest(media);
  window.__whip = client;
}"""

#: Play by WHEP with WebRTCPlayer into a fresh <video>.
PLAY_JS = """async (url) => {
  const video = document.createElement("video");
  video.id = "npm-player";
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.appendChild(video);
  const player = new window.Eyevinn.WebRTCPlayer({video, type: "whep", iceServers: []});
  await player.load(new URL(url));
  window.__player = player;
}"""

FRAMES_JS = """() => {
  const video = document.getElementById("npm-player");
  return video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not BUNDLE.exists():
        pytest.skip(f"run tests/interop/npm/build.sh first (CI does): {BUNDLE} is missing")
    return BUNDLE


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 only (Chromium runs with --allow-loopback-in-peer-connection)."""
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


@pytest.mark.parametrize("no_trickle", [True, False], ids=["full-offer", "client-decides"])
async def test_eyevinn_whip_client_publishes_and_webrtc_player_plays(
    bundle: Path,
    live_server: LiveServer,
    new_page: NewPage,
    page_errors: PageErrors,
    no_trickle: bool,
) -> None:
    """Eyevinn's WHIP client goes live; Eyevinn's WHEP player and our watch page both play."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)

    publisher = await new_page(locale="en-US")
    methods: list[str] = []
    publisher.on("request", lambda request: methods.append(request.method))
    await publisher.goto(live_server.url("/healthz"))
    await publisher.add_script_tag(path=str(bundle))
    await publisher.evaluate(PUBLISH_JS, [live_server.url(f"/whip/{special_id}"), key, no_trickle])
    relay = live_server.app[RELAYS_KEY].get(special_id)
    await publisher.wait_for_function(
        "() => window.__whip.peer && window.__whip.peer.connectionState === 'connected'",
        timeout=20_000,
    )
    assert relay.state == "live"
    # asked whether PATCH is allowed (it is not), it sent every candidate in the offer
    assert "PATCH" not in methods and "POST" in methods

    player = await new_page(locale="en-US")
    await player.goto(live_server.url("/healthz"))
    await player.add_script_tag(path=str(bundle))
    await player.evaluate(PLAY_JS, live_server.url(f"/whep/{special_id}"))
    await player.wait_for_function(f"() => ({FRAMES_JS})() > 30", timeout=20_000)
    assert relay.viewer_count == 1

    watch = await new_page(locale="en-US")
    await watch.goto(live_server.url(f"/specials/{special_id}"))
    await watch.locator("#lm-player[data-state=playing]").wait_for(timeout=20_000)
    assert page_errors.errors == []
