"""Two instances on one Redis: the one without the relay answers /hls/ from the owner."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import unused_port

from livemarket.web.typedefs import DIRECTORY_KEY, HLS_KEY
from tests.conftest import StartInstance
from tests.streamer.hls.test_hls_http import (
    PART_S,
    SEGMENT_S,
    _error,
    _hint,
    _hls_field,
    _parts,
    _until_available,
    _until_segments,
)
from tests.streamer.peers import start_publisher
from tests.streamer.test_media_http import _whip
from tests.streamer.test_scale_out import _host_special

PASSED = ("Content-Type", "Cache-Control", "ETag")


async def test_another_instance_passes_the_owners_hls_through(
    start_instance: StartInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publish on A: B serves the same playlists and media, with A's caching headers."""
    a = await start_instance()
    b = await start_instance()
    for instance in (a, b):
        instance.app[HLS_KEY].segment_target_s = SEGMENT_S
        instance.app[HLS_KEY].part_target_s = PART_S
    special_id, key = await _host_special(a)
    publisher = await start_publisher(_whip(a.client, special_id, key), codec="video/H264")
    try:
        await _until_available(a.client, special_id)
        text = await _until_segments(a.client, special_id, 2)
        assert b.app[HLS_KEY].channel(special_id) is None
        # B's stream status tells the truth about A's HLS
        assert await _hls_field(b.client, special_id) == {
            "available": True,
            "url": f"/hls/{special_id}/index.m3u8",
            "reason": None,
        }

        part = _parts(text)[0]
        for path in ("index.m3u8", part, part.split("/")[0] + "/init.mp4"):
            here = await a.client.get(f"/hls/{special_id}/{path}")
            there = await b.client.get(f"/hls/{special_id}/{path}")
            assert there.status == here.status == 200
            assert await there.read() == await here.read()
            for header in PASSED:
                assert there.headers[header] == here.headers[header], header
            assert there.headers["Access-Control-Allow-Origin"] == "*"
            assert "Set-Cookie" not in there.headers
            cached = await b.client.get(
                f"/hls/{special_id}/{path}", headers={"If-None-Match": here.headers["ETag"]}
            )
            assert cached.status == 304

        # a blocking reload through B is held by A until the part exists
        msn, index = _hint(await (await b.client.get(f"/hls/{special_id}/live.m3u8")).text())
        blocked = await b.client.get(
            f"/hls/{special_id}/live.m3u8", params={"_HLS_msn": msn, "_HLS_part": index}
        )
        assert blocked.status == 200
        assert blocked.headers["Cache-Control"] == "public, max-age=2"
        assert any(uri.endswith(f"/{msn}.{index}.mp4") for uri in _parts(await blocked.text()))
        # A's refusals come through as they are
        bad = await b.client.get(f"/hls/{special_id}/live.m3u8", params={"_HLS_part": 1})
        assert bad.status == 400
        assert (await _error(bad))["code"] == "invalid_hls_request"

        # the owner cannot be reached: 503 with Retry-After, never a hang
        gone = f"http://127.0.0.1:{unused_port()}"

        async def owner(special: int) -> str | None:
            return gone

        monkeypatch.setattr(b.app[DIRECTORY_KEY], "owner", owner)
        unreachable = await b.client.get(f"/hls/{special_id}/live.m3u8")
        assert unreachable.status == 503
        assert (await _error(unreachable))["code"] == "hls_owner_unreachable"
        assert unreachable.headers["Retry-After"] == "1"
        assert (await _hls_field(b.client, special_id))["reason"] == "hls_owner_unreachable"
    finally:
        await publisher.close()
