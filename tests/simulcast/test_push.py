"""The push, proven against a real RTMP ingest (nginx-rtmp) and read back with ffprobe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from livemarket.bus.events import special_topic
from livemarket.config import Settings, load_settings
from livemarket.web.typedefs import BUS_KEY, RELAYS_KEY, SIMULCAST_KEY
from tests.conftest import UserMaker, login
from tests.simulcast.ingest import RtmpIngest, free_port, ingest, probe
from tests.streamer.peers import start_publisher
from tests.streamer.test_media_http import _key, _special, _whip
from tests.web.test_checkout_api import as_user

__all__ = ["ingest"]  # the nginx-rtmp fixture

Client = TestClient[Any, Any]
KEY = "partner-secret-key-7Q2x"


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return load_settings(
        {}, data_dir=tmp_path, database_url=sqlite_url, ice_host_addresses=("127.0.0.1",)
    )


def _summary(probed: dict[str, Any]) -> dict[str, Any]:
    streams = {s["codec_type"]: s for s in probed["streams"]}
    video_index = next(i for i, s in enumerate(probed["streams"]) if s["codec_type"] == "video")
    times = [
        float(p["pts_time"])
        for p in probed["packets"]
        if p["stream_index"] == video_index and "pts_time" in p
    ]
    return {"streams": streams, "video_times": times}


async def _wait_state(app: web.Application, special_id: int, state: str, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            status = app[SIMULCAST_KEY].status(special_id)
            if status and all(d["state"] == state for d in status["destinations"]):
                return
            await asyncio.sleep(0.1)


async def test_a_live_special_airs_on_the_partner_ingest_and_survives_its_restart(
    client: Client, app: web.Application, make_user: UserMaker, ingest: RtmpIngest
) -> None:
    """H.264 copied and AAC audio reach nginx-rtmp; killed and restarted, it reconnects."""
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    csrf = await login(client, "op1")
    created = await client.post(
        "/api/v1/simulcast/destinations",
        json={"name": "Partner", "url": ingest.url(), "stream_key": KEY, "special_id": special_id},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status == 201, await created.text()
    heard: list[dict[str, Any]] = []
    subscription = app[BUS_KEY].subscribe(
        special_topic(special_id), lambda topic, event: heard.append(dict(event))
    )
    publisher = await start_publisher(
        _whip(client, special_id, await _key(app, host.id)), codec="video/H264"
    )
    try:
        await _wait_state(app, special_id, "live", within=20)
        first = _summary(await probe(ingest.url(KEY)))
        assert first["streams"]["video"]["codec_name"] == "h264"
        assert (first["streams"]["video"]["width"], first["streams"]["video"]["height"]) == (
            160,
            120,
        )
        assert first["streams"]["audio"]["codec_name"] == "aac"
        assert len(first["video_times"]) > 10
        assert first["video_times"][-1] - first["video_times"][0] > 1.0

        await ingest.stop()  # the partner's ingest goes down mid-show
        await _wait_state(app, special_id, "retrying", within=10)
        asked = app[RELAYS_KEY].get(special_id).figures()["keyframe_requests"]
        await ingest.start()
        await _wait_state(app, special_id, "live", within=20)
        # the restarted push starts on a keyframe, asked of the publisher (browsers only
        # send one when asked)
        assert app[RELAYS_KEY].get(special_id).figures()["keyframe_requests"] > asked
        again = _summary(await probe(ingest.url(KEY)))
        assert again["streams"]["video"]["codec_name"] == "h264"
        assert len(again["video_times"]) > 10
        status = app[SIMULCAST_KEY].status(special_id)
        assert status is not None
        assert status["destinations"][0]["reconnects"] >= 1
        assert status["destinations"][0]["bitrate_bps"] > 0
        assert any(e["type"] == "simulcast.status" for e in heard)
        assert KEY not in str(heard)
    finally:
        subscription.close()
        await publisher.close()


async def _destination(client: Client, csrf: str, special_id: int, name: str, url: str) -> int:
    body = {"name": name, "url": url, "stream_key": KEY, "special_id": special_id}
    created = await client.post(
        "/api/v1/simulcast/destinations", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert created.status == 201, await created.text()
    return int((await created.json())["id"])


async def test_a_dead_destination_never_holds_back_the_others(
    client: Client, app: web.Application, make_user: UserMaker, ingest: RtmpIngest
) -> None:
    """One ingest refuses connections: it retries with a reason; the other stays live."""
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    csrf = await login(client, "op1")
    dead_url = f"rtmp://127.0.0.1:{free_port()}/live"
    dead = await _destination(client, csrf, special_id, "Dead", dead_url)
    good = await _destination(client, csrf, special_id, "Good", ingest.url())
    publisher = await start_publisher(
        _whip(client, special_id, await _key(app, host.id)), codec="video/H264"
    )
    try:
        async with asyncio.timeout(20):
            while True:
                status = app[SIMULCAST_KEY].status(special_id)
                states = {d["id"]: d for d in status["destinations"]} if status else {}
                if states and states[good]["state"] == "live" and states[dead]["reconnects"]:
                    break
                await asyncio.sleep(0.1)
        assert states[dead]["state"] in ("retrying", "connecting")
        assert states[dead]["reason"]
        assert KEY not in states[dead]["reason"]
        seen = _summary(await probe(ingest.url(KEY)))
        assert len(seen["video_times"]) > 10

        # the host sees it; /metrics counts it per special and destination
        await as_user(client, "host1")
        answer = await client.get(f"/api/v1/specials/{special_id}/simulcast")
        shown = {d["name"]: d for d in (await answer.json())["destinations"]}
        assert shown["Good"]["state"] == "live"
        assert shown["Good"]["uptime_s"] > 0
        metrics = await (await client.get("/metrics")).text()
        assert (
            f'livemarket_simulcast_live{{destination_id="{good}",special_id="{special_id}"}} 1.0'
            in metrics
        )
        assert (
            f'livemarket_simulcast_live{{destination_id="{dead}",special_id="{special_id}"}} 0.0'
            in metrics
        )
    finally:
        await publisher.close()


async def test_the_push_outlives_a_host_reconnect_and_stops_when_the_special_ends(
    client: Client, app: web.Application, make_user: UserMaker, ingest: RtmpIngest
) -> None:
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    await _destination(client, csrf=await login(client, "op1"), special_id=special_id,
                       name="Partner", url=ingest.url())  # fmt: skip
    key = await _key(app, host.id)
    publisher = await start_publisher(_whip(client, special_id, key), codec="video/H264")
    try:
        await _wait_state(app, special_id, "live", within=20)
        whip = _whip(client, special_id, key)
        replacement = await start_publisher(whip, codec="video/H264")  # a page reload
        await publisher.close()
        publisher = replacement
        after = _summary(await probe(ingest.url(KEY), seconds=3))
        assert len(after["video_times"]) > 20
        status = app[SIMULCAST_KEY].status(special_id)
        assert status is not None
        assert status["destinations"][0]["state"] == "live"
        assert status["destinations"][0]["reconnects"] == 0

        ended = await client.delete(whip.location)
        assert ended.status == 200
        async with asyncio.timeout(10):
            while app[SIMULCAST_KEY].status(special_id) is not None:
                await asyncio.sleep(0.1)
    finally:
        await publisher.close()


async def test_a_vp8_publisher_is_reported_not_pushed(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Video is copied, never re-encoded: a VP8 host gets a clear failed state."""
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    await _destination(client, await login(client, "op1"), special_id, "P", "rtmp://x.example/live")
    publisher = await start_publisher(
        _whip(client, special_id, await _key(app, host.id)), codec="video/VP8"
    )
    try:
        await _wait_state(app, special_id, "failed", within=10)
        status = app[SIMULCAST_KEY].status(special_id)
        assert status is not None
        assert status["destinations"][0]["reason"].startswith("needs H.264")
    finally:
        await publisher.close()


async def test_a_test_card_says_whether_the_destination_takes_it(
    client: Client, app: web.Application, make_user: UserMaker, ingest: RtmpIngest
) -> None:
    """5 seconds of test card: through to a working ingest; a refusing one says why."""
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    csrf = await login(client, "op1")
    good = await _destination(client, csrf, special_id, "Good", ingest.url())
    dead = await _destination(
        client, csrf, special_id, "Dead", f"rtmp://127.0.0.1:{free_port()}/live"
    )
    headers = {"X-CSRF-Token": csrf}
    url = "/api/v1/simulcast/destinations/{}/test"
    went, refused = await asyncio.gather(
        client.post(url.format(good), headers=headers),
        client.post(url.format(dead), headers=headers),
    )
    assert (await went.json())["ok"] is True
    answer = await refused.json()
    assert answer["ok"] is False
    assert answer["reason"]
    assert KEY not in answer["reason"]
    assert (await client.post(url.format(9999), headers=headers)).status == 404


async def test_a_dead_encoder_is_replaced_and_the_destination_comes_back(
    client: Client, app: web.Application, make_user: UserMaker, ingest: RtmpIngest
) -> None:
    host = await make_user("host", "host1")
    await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    await _destination(client, await login(client, "op1"), special_id, "P", ingest.url())
    publisher = await start_publisher(
        _whip(client, special_id, await _key(app, host.id)), codec="video/H264"
    )
    try:
        await _wait_state(app, special_id, "live", within=20)
        (encoder,) = [
            child
            for child in psutil.Process().children()
            if "nut" in child.cmdline() and "ffmpeg" in child.cmdline()[0]
        ]
        encoder.kill()
        async with asyncio.timeout(20):
            while True:
                status = app[SIMULCAST_KEY].status(special_id)
                assert status is not None
                if status["encoder_restarts"] == 1 and status["destinations"][0]["state"] == "live":
                    break
                await asyncio.sleep(0.1)
        again = _summary(await probe(ingest.url(KEY)))
        assert again["streams"]["audio"]["codec_name"] == "aac"
        assert len(again["video_times"]) > 10
    finally:
        await publisher.close()
