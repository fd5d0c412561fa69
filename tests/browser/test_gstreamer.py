"""Debian's GStreamer ``webrtcbin`` publishes by WHIP; Chromium plays it on the watch page.

GStreamer 1.22 makes RSA certificates only: the relay must offer ECDHE-RSA cipher
suites when it is the DTLS client. The publisher is ``tests/interop/gst_whip_publish.py``
run by Debian's python3 (PyGObject); skipped with the reason when that is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.browser.conftest import LiveServer, NewPage, PageErrors
from tests.conftest import PASSWORD
from tests.web.realtime.conftest import add_special

SYSTEM_PYTHON = "/usr/bin/python3"
PUBLISHER = Path(__file__).resolve().parents[1] / "interop" / "gst_whip_publish.py"
CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
    "from gi.repository import Gst; Gst.init(None);"
    "missing = [e for e in ('webrtcbin', 'vp8enc', 'x264enc', 'opusenc')"
    " if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
)


@pytest.fixture(scope="module")
def gstreamer() -> None:
    """Skip unless Debian's GStreamer, its WebRTC plugins and PyGObject are installed."""
    try:
        found = subprocess.run(
            [SYSTEM_PYTHON, "-c", CHECK], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no {SYSTEM_PYTHON} with GStreamer: {exc}")
    if found.returncode != 0 or found.stdout.strip():
        pytest.skip(
            "GStreamer webrtcbin publishing needs python3-gi, gir1.2-gst-plugins-bad-1.0, "
            "gstreamer1.0-plugins-{base,good,bad,ugly} and gstreamer1.0-nice (CI installs "
            f"them): {found.stdout.strip() or found.stderr.strip()[-200:]}"
        )


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media on 127.0.0.1 only (Chromium runs with --allow-loopback-in-peer-connection)."""
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


async def _events(process: asyncio.subprocess.Process, until: str) -> list[dict[str, Any]]:
    """The publisher's JSON lines up to the ``until`` event (or its end)."""
    assert process.stdout is not None
    seen = []
    while line := await process.stdout.readline():
        event = json.loads(line)
        seen.append(event)
        if event["event"] in (until, "refused", "failed"):
            break
    return seen


@pytest.mark.parametrize(
    ("codec", "label"),
    [
        ("vp8", "video/VP8"),
        ("h264", "video/H264 (Constrained Baseline"),
        ("h264-high", "video/H264 (High"),
    ],
)
async def test_gstreamer_webrtcbin_publishes_and_chromium_plays(
    gstreamer: None,
    live_server: LiveServer,
    new_page: NewPage,
    page_errors: PageErrors,
    codec: str,
    label: str,
) -> None:
    """webrtcbin (RSA certificate) publishes by WHIP; the watch page plays; DELETE ends it."""
    sessions = live_server.app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    special_id = await add_special(sessions, host.id)
    async with sessions.begin() as db:
        key = await stream_key_of(db, host.id)
    process = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        str(PUBLISHER),
        "--seconds",
        "40",
        "--",  # a stream key may start with "-": it is an argument, not an option
        live_server.url(f"/whip/{special_id}"),
        key,
        codec,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(20):
            events = await _events(process, "connected")
        assert [e["event"] for e in events][-1] == "connected", events
        relay = live_server.app[RELAYS_KEY].get(special_id)
        assert relay.codec("video").label.startswith(label)
        viewer = await new_page(locale="en-US")
        await viewer.goto(live_server.url(f"/specials/{special_id}"))
        await viewer.wait_for_function(
            "() => document.getElementById('lm-player-video')"
            ".getVideoPlaybackQuality().totalVideoFrames > 30",
            timeout=20_000,
        )
        assert relay.negotiation_failures["publisher"] == 0
        process.terminate()  # the publisher sends its DELETE
        async with asyncio.timeout(10):
            await process.wait()
        assert relay.state == "ended"
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
    assert page_errors.errors == []
