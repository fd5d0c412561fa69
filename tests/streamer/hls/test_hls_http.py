"""LL-HLS over HTTP: a real aiortc publisher sends H.264 through WHIP; players read /hls/."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from livemarket.config import Settings
from livemarket.scheduler.models import Special
from livemarket.web.app import create_app
from livemarket.web.typedefs import HLS_KEY, SESSIONS_KEY, SETTINGS_KEY
from tests.conftest import UserMaker, build_settings
from tests.streamer.peers import start_publisher
from tests.streamer.test_media_http import _key, _special, _whip

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
PLAYLIST = "application/vnd.apple.mpegurl"

#: Short segments and parts, so a test sees several of each in a few seconds.
SEGMENT_S, PART_S = 1.0, 0.2


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return build_settings(tmp_path, database_url=sqlite_url)


def _short_targets(app: web.Application) -> None:
    app[HLS_KEY].segment_target_s = SEGMENT_S
    app[HLS_KEY].part_target_s = PART_S


async def _live_special(app: web.Application, make_user: UserMaker) -> tuple[int, str]:
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    return special_id, await _key(app, host.id)


async def _hls_field(client: Client, special_id: int) -> dict[str, Any]:
    status = await client.get(f"/api/v1/specials/{special_id}/stream")
    assert status.status == 200
    return dict((await status.json())["hls"])


async def _until_available(client: Client, special_id: int) -> None:
    async with asyncio.timeout(15):
        while not (await _hls_field(client, special_id))["available"]:
            await asyncio.sleep(0.1)


def _hint(text: str) -> tuple[int, int]:
    found = re.search(r'PRELOAD-HINT:TYPE=PART,URI="[^/]+/(\d+)\.(\d+)\.mp4"', text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def _segments(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.fullmatch(r"[^#].*/\d+\.mp4", line)]


def _parts(text: str) -> list[str]:
    """The URIs of the parts a playlist lists (not the preload hint)."""
    return re.findall(r'^#EXT-X-PART:DURATION=[0-9.]+,URI="([^"]+)"', text, re.MULTILINE)


async def _playlist(client: Client, url: str) -> str:
    response = await client.get(url)
    assert response.status == 200, await response.text()
    return await response.text()


async def _until_segments(client: Client, special_id: int, count: int) -> str:
    async with asyncio.timeout(20):
        while True:
            text = await _playlist(client, f"/hls/{special_id}/live.m3u8")
            if len(_segments(text)) >= count:
                return text
            await asyncio.sleep(0.2)


async def _end_special(app: web.Application, special_id: int) -> None:
    async with app[SESSIONS_KEY].begin() as db:
        await db.execute(update(Special).where(Special.id == special_id).values(status="ended"))


async def _error(response: Any) -> dict[str, Any]:
    return dict((await response.json())["error"])


async def _decodes(url: str) -> tuple[bool, str]:
    """Whether ffmpeg reads the whole HLS playlist at ``url`` without an error."""
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-v",
        "error",
        "-i",
        url,
        "-f",
        "null",
        "-",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, errors = await process.communicate()
    return process.returncode == 0, errors.decode(errors="replace")


async def test_live_playlists_parts_and_segments_with_their_headers(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Index and live playlists advance; media downloads are immutable; 304; no cookie."""
    _short_targets(app)
    special_id, key = await _live_special(app, make_user)
    assert await _hls_field(client, special_id) == {
        "available": False,
        "url": None,
        "reason": "not_live",
    }
    missing = await client.get(f"/hls/{special_id}/index.m3u8")
    assert missing.status == 404
    assert await _error(missing) == {
        "code": "hls_unavailable",
        "message": "This special has no HLS stream right now.",
        "reason": "not_live",
    }
    publisher = await start_publisher(_whip(client, special_id, key), codec="video/H264")
    try:
        await _until_available(client, special_id)
        assert await _hls_field(client, special_id) == {
            "available": True,
            "url": f"/hls/{special_id}/index.m3u8",
            "reason": None,
        }
        # a viewer's session cookie is neither needed nor touched
        await client.get("/api/v1/session")
        assert client.session.cookie_jar.filter_cookies(client.make_url("/"))

        index = await client.get(f"/hls/{special_id}/index.m3u8")
        assert index.status == 200
        assert index.headers["Content-Type"] == PLAYLIST
        assert index.headers["Access-Control-Allow-Origin"] == "*"
        assert "Set-Cookie" not in index.headers
        text = await index.text()
        assert re.search(r'CODECS="avc1\.[0-9a-f]{6},opus"', text), text
        assert "RESOLUTION=160x120" in text
        assert text.rstrip().endswith("live.m3u8")

        first = await _until_segments(client, special_id, 2)
        live = await client.get(f"/hls/{special_id}/live.m3u8")
        assert live.headers["Content-Type"] == PLAYLIST
        assert live.headers["Cache-Control"] == "public, max-age=1"
        assert live.headers["Access-Control-Allow-Origin"] == "*"
        assert "Last-Modified" in live.headers
        assert "Set-Cookie" not in live.headers
        etag = live.headers["ETag"]
        assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in first
        later = await _until_segments(client, special_id, 4)
        assert _segments(later)[-1] != _segments(first)[-1]  # the playlist advances
        stale = await client.get(f"/hls/{special_id}/live.m3u8", headers={"If-None-Match": etag})
        assert stale.status == 200  # it changed since

        run, _ = _segments(later)[-1].split("/")
        for name in ("init.mp4", _segments(later)[-1].split("/")[1]):
            media = await client.get(f"/hls/{special_id}/{run}/{name}")
            assert media.status == 200
            assert media.headers["Content-Type"] == "video/mp4"
            assert media.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert media.headers["Access-Control-Allow-Origin"] == "*"
            assert "Set-Cookie" not in media.headers
            body = await media.read()
            assert body[4:8] == (b"ftyp" if name == "init.mp4" else b"moof")
            again = await client.get(
                f"/hls/{special_id}/{run}/{name}", headers={"If-None-Match": media.headers["ETag"]}
            )
            assert again.status == 304
            assert await again.read() == b""
        part = _parts(later)[-1]
        part_response = await client.get(f"/hls/{special_id}/{part}")
        assert part_response.status == 200
        assert (await part_response.read())[4:8] == b"moof"

        unknown = await client.get(f"/hls/{special_id}/{run}/9999.mp4")
        assert unknown.status == 404
        assert (await _error(unknown))["code"] == "hls_not_found"
        assert "Set-Cookie" not in unknown.headers
        elsewhere = await client.get("/hls/nothing/here")
        assert elsewhere.status == 404
        assert (await _error(elsewhere))["code"] == "hls_not_found"
        posted = await client.post(f"/hls/{special_id}/live.m3u8")
        assert posted.status == 405
        assert (await _error(posted))["code"] == "method_not_allowed"
    finally:
        await publisher.close()


async def test_blocking_reload_waits_for_the_part_and_refuses_bad_queries(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """_HLS_msn/_HLS_part: held until that part exists; 400 when malformed or too far."""
    _short_targets(app)
    special_id, key = await _live_special(app, make_user)
    publisher = await start_publisher(_whip(client, special_id, key), codec="video/H264")
    try:
        await _until_available(client, special_id)
        text = await _until_segments(client, special_id, 1)
        msn, part = _hint(text)
        wanted = f"/{msn}.{part}.mp4"
        assert not [line for line in _parts(text) if line.endswith(wanted)]
        response = await client.get(
            f"/hls/{special_id}/live.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}
        )
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=2"
        answered = await response.text()
        assert [line for line in _parts(answered) if line.endswith(wanted)]

        # the part the preload hint names is held until it exists, then served
        text = await _playlist(client, f"/hls/{special_id}/live.m3u8")
        msn, part = _hint(text)
        run = _segments(text)[0].split("/")[0]
        hinted = await client.get(f"/hls/{special_id}/{run}/{msn}.{part}.mp4")
        assert hinted.status == 200
        assert hinted.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert (await hinted.read())[4:8] == b"moof"
        far = await client.get(f"/hls/{special_id}/{run}/{msn + 9}.0.mp4")
        assert far.status == 404

        # a whole segment: answered once it is listed
        whole = await client.get(f"/hls/{special_id}/live.m3u8", params={"_HLS_msn": msn})
        assert whole.status == 200
        assert any(line.endswith(f"/{msn}.mp4") for line in _segments(await whole.text()))

        for params in (
            {"_HLS_part": "0"},
            {"_HLS_msn": "x"},
            {"_HLS_msn": "-1"},
            {"_HLS_msn": "1", "_HLS_part": "y"},
            {"_HLS_msn": str(msn + 50)},
        ):
            bad = await client.get(f"/hls/{special_id}/live.m3u8", params=params)
            assert bad.status == 400, params
            assert (await _error(bad))["code"] == "invalid_hls_request"
            assert bad.headers["Cache-Control"] == "no-store"

        # the publisher's picture stops: a part that never comes is a 503 in time
        video = next(s for s in publisher.pc.getSenders() if s.track and s.track.kind == "video")
        video.replaceTrack(None)
        await asyncio.sleep(0.5)
        text = await _playlist(client, f"/hls/{special_id}/live.m3u8")
        msn, part = _hint(text)
        timeout = await client.get(
            f"/hls/{special_id}/live.m3u8", params={"_HLS_msn": msn + 1, "_HLS_part": 0}
        )
        assert timeout.status == 503
        assert (await _error(timeout))["code"] == "hls_timeout"
        assert int(timeout.headers["Retry-After"]) >= 1
        late_part = await client.get(f"/hls/{special_id}/{run}/{msn}.{part}.mp4")
        assert late_part.status == 503
        assert (await _error(late_part))["code"] == "hls_timeout"
        assert late_part.headers["Cache-Control"] == "no-store"
    finally:
        await publisher.close()


async def test_vp8_publisher_has_no_hls(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """HLS carries H.264 untouched: a VP8 stream is refused with hls_needs_h264."""
    special_id, key = await _live_special(app, make_user)
    whip = _whip(client, special_id, key)
    publisher = await start_publisher(whip, codec="video/VP8")
    try:
        assert await _hls_field(client, special_id) == {
            "available": False,
            "url": None,
            "reason": "hls_needs_h264",
        }
        for path in ("index.m3u8", "live.m3u8"):
            refused = await client.get(f"/hls/{special_id}/{path}")
            assert refused.status == 404
            assert (await _error(refused))["reason"] == "hls_needs_h264"
        assert (await client.delete(whip.location)).status == 200
        assert (await _hls_field(client, special_id))["reason"] == "not_live"
    finally:
        await publisher.close()


async def test_hls_can_be_turned_off(
    aiohttp_client: MakeClient, tmp_path: Path, sqlite_url: str
) -> None:
    app = create_app(build_settings(tmp_path, database_url=sqlite_url, hls=False))
    client = await aiohttp_client(app)
    response = await client.get("/hls/1/index.m3u8")
    assert response.status == 404
    assert (await _error(response))["reason"] == "hls_disabled"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
async def test_replay_of_every_run_decodes_also_after_a_restart(
    aiohttp_client: MakeClient,
    client: Client,
    app: web.Application,
    settings: Settings,
    make_user: UserMaker,
) -> None:
    """Two publishing sessions, then the end: replay.m3u8 lists both runs and ffmpeg reads it."""
    _short_targets(app)
    special_id, key = await _live_special(app, make_user)
    runs = []
    for _ in range(2):
        whip = _whip(client, special_id, key)
        publisher = await start_publisher(whip, codec="video/H264")
        try:
            await _until_available(client, special_id)
            text = await _until_segments(client, special_id, 2)
            runs.append(_segments(text)[0].split("/")[0])
            early = await client.get(f"/hls/{special_id}/replay.m3u8")
            assert early.status == 404
            assert (await _error(early))["code"] == "replay_unavailable"
            assert (await client.delete(whip.location)).status == 200
        finally:
            await publisher.close()
    assert runs[0] != runs[1]
    await _end_special(app, special_id)

    response = await client.get(f"/hls/{special_id}/replay.m3u8")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == PLAYLIST
    assert response.headers["Cache-Control"] == "public, max-age=60"
    text = await response.text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    assert [f"{run}/init.mp4" in text for run in runs] == [True, True]
    ok, errors = await _decodes(str(client.make_url(f"/hls/{special_id}/replay.m3u8")))
    assert ok, errors

    # a new server over the same data folder serves the same replay
    restarted = await aiohttp_client(create_app(settings))
    again = await restarted.get(f"/hls/{special_id}/replay.m3u8")
    assert again.status == 200
    assert await again.text() == text
    ok, errors = await _decodes(str(restarted.make_url(f"/hls/{special_id}/replay.m3u8")))
    assert ok, errors


async def test_replay_is_there_only_after_the_end_and_with_media(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    special_id, _ = await _live_special(app, make_user)
    before = await client.get(f"/hls/{special_id}/replay.m3u8")
    assert before.status == 404
    assert await _error(before) == {
        "code": "replay_unavailable",
        "message": "The replay is there once the special has ended.",
        "reason": "not_ended",
    }
    assert before.headers["Access-Control-Allow-Origin"] == "*"
    await _end_special(app, special_id)
    empty = await client.get(f"/hls/{special_id}/replay.m3u8")
    assert empty.status == 404
    assert (await _error(empty))["reason"] == "nothing_kept"
    assert (await client.get(f"/hls/{special_id + 100}/replay.m3u8")).status == 404


async def test_a_run_live_at_shutdown_is_kept_for_the_replay(
    aiohttp_client: MakeClient, client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """The server stops mid-show: the run ends with its listing, and a new server replays it."""
    _short_targets(app)
    special_id, key = await _live_special(app, make_user)
    publisher = await start_publisher(_whip(client, special_id, key), codec="video/H264")
    try:
        await _until_available(client, special_id)
        run = _segments(await _until_segments(client, special_id, 2))[0].split("/")[0]
        await client.close()  # shutdown while live
    finally:
        await publisher.close()
    restarted_app = create_app(app[SETTINGS_KEY])
    restarted = await aiohttp_client(restarted_app)
    await _end_special(restarted_app, special_id)
    replay = await restarted.get(f"/hls/{special_id}/replay.m3u8")
    assert replay.status == 200
    assert f'#EXT-X-MAP:URI="{run}/init.mp4"' in await replay.text()
