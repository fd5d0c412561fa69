"""WHIP/WHEP over HTTP: status codes, headers, auth, and media through the real app."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from livemarket.accounts.service import stream_key_of
from livemarket.bus.events import special_topic
from livemarket.config import Settings
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow
from livemarket.streamer.ice import host_addresses
from livemarket.web.typedefs import BUS_KEY, RELAYS_KEY, SESSIONS_KEY, SETTINGS_KEY
from tests.conftest import UserMaker, build_settings
from tests.streamer.peers import LOOPBACK, start_publisher, start_viewer

Client = TestClient[Any, Any]
SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Media stays on 127.0.0.1; two viewers per special so the cap is testable."""
    return build_settings(tmp_path, database_url=sqlite_url, capacity_per_special=2)


async def _special(app: web.Application, host_id: int, **kw: Any) -> int:
    now = utcnow()
    values: dict[str, Any] = {
        "title": "Kimchi live",
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(hours=1),
        "host_id": host_id,
        "status": "scheduled",
    }
    values.update(kw)
    async with app[SESSIONS_KEY].begin() as db:
        special = Special(**values)
        db.add(special)
        await db.flush()
        return special.id


async def _key(app: web.Application, user_id: int) -> str:
    async with app[SESSIONS_KEY].begin() as db:
        return await stream_key_of(db, user_id)


def _whip(client: Client, special_id: int, key: str | None):  # type: ignore[no-untyped-def]
    async def signal(offer: str) -> str:
        headers = dict(SDP)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = await client.post(f"/whip/{special_id}", data=offer, headers=headers)
        assert response.status == 201, await response.text()
        assert response.headers["Content-Type"].startswith("application/sdp")
        signal.location = response.headers["Location"]  # type: ignore[attr-defined]
        return await response.text()

    return signal


def _whep(client: Client, special_id: int):  # type: ignore[no-untyped-def]
    async def signal(offer: str) -> str:
        response = await client.post(f"/whep/{special_id}", data=offer, headers=SDP)
        assert response.status == 201, await response.text()
        signal.location = response.headers["Location"]  # type: ignore[attr-defined]
        return await response.text()

    return signal


OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def _error(response: Any) -> str:
    return str((await response.json())["error"]["code"])


async def test_whip_refuses_missing_wrong_and_foreign_keys(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Only the special's host key (or an operator's) publishes; others get 401."""
    host = await make_user("host", "host1")
    other = await make_user("host", "host2")
    special_id = await _special(app, host.id)
    url = f"/whip/{special_id}"
    missing = await client.post(url, data=OFFER, headers=SDP)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert await _error(missing) == "stream_key_missing"
    wrong = await client.post(url, data=OFFER, headers={**SDP, "Authorization": "Bearer nope"})
    assert wrong.status == 401
    foreign_key = await _key(app, other.id)
    foreign = await client.post(
        url, data=OFFER, headers={**SDP, "Authorization": f"Bearer {foreign_key}"}
    )
    assert foreign.status == 401
    assert await _error(foreign) == "stream_key_wrong"
    assert (
        app[RELAYS_KEY].find(special_id) is None
        or not app[RELAYS_KEY].get(special_id).figures()["publishing"]
    )


async def test_whip_checks_body_and_special_window(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Wrong content type is 415; an ended or far-future special is 403; unknown is 404."""
    host = await make_user("host", "host1")
    key = await _key(app, host.id)
    auth = {"Authorization": f"Bearer {key}"}
    current = await _special(app, host.id)
    typed = await client.post(
        f"/whip/{current}", data=OFFER, headers={**auth, "Content-Type": "text/plain"}
    )
    assert typed.status == 415
    later = utcnow() + timedelta(hours=3)
    future = await _special(app, host.id, starts_at=later, ends_at=later + timedelta(hours=1))
    early = await client.post(f"/whip/{future}", data=OFFER, headers={**SDP, **auth})
    assert early.status == 403
    assert await _error(early) == "special_not_live"
    ended = await _special(app, host.id, status="ended")
    assert (await client.post(f"/whip/{ended}", data=OFFER, headers={**SDP, **auth})).status == 403
    assert (await client.post("/whip/99999", data=OFFER, headers={**SDP, **auth})).status == 404
    garbage = await client.post(f"/whip/{current}", data="v=0\r\nnonsense", headers={**SDP, **auth})
    assert garbage.status == 422


async def test_publish_and_play_through_the_app(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Host publishes by WHIP, two viewers play by WHEP; 409, replacement, 503 and DELETE."""
    host = await make_user("host", "host1")
    operator = await make_user("operator", "op1")
    special_id = await _special(app, host.id)
    key = await _key(app, host.id)
    whip = _whip(client, special_id, key)
    publisher = await start_publisher(whip)
    assert whip.location.startswith(f"/whip/{special_id}/")
    viewers = []
    try:
        for _ in range(2):
            whep = _whep(client, special_id)
            viewer = await start_viewer(whep)
            viewer.location = whep.location  # type: ignore[attr-defined]
            viewers.append(viewer)
        for viewer in viewers:
            await viewer.wait_frames(10)
            assert viewer.video_codec() == "video/VP8"

        # the cap (2 per special in these settings): 503 with Retry-After
        full = await client.post(
            f"/whep/{special_id}", data=publisher.pc.localDescription.sdp, headers=SDP
        )
        assert full.status == 503
        assert int(full.headers["Retry-After"]) > 0
        assert await _error(full) == "room_full"

        # another user's key while the host is live: 409
        operator_key = await _key(app, operator.id)
        busy = await client.post(
            f"/whip/{special_id}",
            data=publisher.pc.localDescription.sdp,
            headers={**SDP, "Authorization": f"Bearer {operator_key}"},
        )
        assert busy.status == 409

        status = await client.get(f"/api/v1/specials/{special_id}/stream")
        assert (await status.json())["state"] == "live"
        assert (await status.json())["viewers"] == 2

        # the same host replaces its session; viewers keep receiving
        seen = len(viewers[0].frames)
        replacement = await start_publisher(_whip(client, special_id, key))
        await publisher.close()
        publisher = replacement
        await viewers[0].wait_frames(seen + 15)

        # DELETE ends a viewer; a second DELETE finds nothing
        gone = await client.delete(viewers[1].location)  # type: ignore[attr-defined]
        assert gone.status == 200
        assert (await client.delete(viewers[1].location)).status == 404  # type: ignore[attr-defined]
        status = await client.get(f"/api/v1/specials/{special_id}/stream")
        assert (await status.json())["viewers"] == 1
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_whip_delete_ends_the_session_and_tells_the_room(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """DELETE on the WHIP Location ends publishing; viewers hear stream.status frames."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    heard: list[dict[str, Any]] = []
    subscription = app[BUS_KEY].subscribe(
        special_topic(special_id), lambda topic, event: heard.append(dict(event))
    )
    whip = _whip(client, special_id, await _key(app, host.id))
    publisher = await start_publisher(whip)
    try:
        ended = await client.delete(whip.location)
        assert ended.status == 200
        assert (await client.delete(whip.location)).status == 404
        async with asyncio.timeout(5):
            while [e["state"] for e in heard if e["type"] == "stream.status"] != ["live", "ended"]:
                await asyncio.sleep(0.02)
        status = await client.get(f"/api/v1/specials/{special_id}/stream")
        assert (await status.json())["state"] == "ended"
    finally:
        subscription.close()
        await publisher.close()


async def test_figures_are_for_the_host_only(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Stream figures are the special's host's (or an operator's); viewers get 401."""
    from tests.conftest import login

    host = await make_user("host", "host1")
    await make_user("host", "host2")
    special_id = await _special(app, host.id)
    url = f"/api/v1/specials/{special_id}/stream/figures"
    assert (await client.get(url)).status == 401
    await login(client, "host2")
    assert (await client.get(url)).status == 403
    client.session.cookie_jar.clear()
    await login(client, "host1")
    mine = await client.get(url)
    assert mine.status == 200
    assert (await mine.json())["state"] == "offline"


async def test_metrics_show_the_stream(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """/metrics carries each live relay's viewers and video rate for operators' dashboards."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    publisher = await start_publisher(_whip(client, special_id, await _key(app, host.id)))
    viewer = await start_viewer(_whep(client, special_id))
    try:
        await viewer.wait_frames(10)
        text = await (await client.get("/metrics")).text()
        assert f'livemarket_stream_viewers{{special_id="{special_id}"}} 1.0' in text
        assert f'livemarket_stream_publishing{{special_id="{special_id}"}} 1.0' in text
        assert "livemarket_stream_video_fps" in text
        assert f'livemarket_stream_ingest_losses_total{{special_id="{special_id}"}} 0.0' in text
    finally:
        await viewer.close()
        await publisher.close()


class HighProfileCamera(MediaStreamTrack):
    """Sends H.264 High profile packets, as Chromium or OBS would (libx264, no B-frames).

    ``recv`` returns encoded ``av.Packet``s, so aiortc only packetizes them: the
    stream really is High profile, not aiortc's own baseline encoder output.
    """

    kind = "video"
    FPS = 30

    def __init__(self) -> None:
        super().__init__()
        self.context = av.CodecContext.create("libx264", "w")
        self.context.width, self.context.height, self.context.pix_fmt = 160, 120, "yuv420p"
        self.context.time_base = Fraction(1, 90000)
        self.context.framerate = Fraction(self.FPS)
        self.context.options = {"profile": "high", "tune": "zerolatency", "g": "15"}
        self.count = 0
        self.start = 0.0
        self.first_packet = b""

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if not self.count:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.count / self.FPS - time.monotonic()))
        frame = av.VideoFrame(160, 120, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(self.count * 5 + index * 60) % 256]) * plane.buffer_size)
        frame.pts = self.count * 90000 // self.FPS
        frame.time_base = self.context.time_base
        self.count += 1
        packets = self.context.encode(frame)
        assert len(packets) == 1  # zerolatency: one packet per frame, in order
        packet = packets[0]
        packet.pts, packet.time_base = frame.pts, frame.time_base
        if not self.first_packet:
            self.first_packet = bytes(packet)
        return packet


def _video_fmtp(sdp: str) -> list[dict[str, Any]]:
    media = next(m for m in SessionDescription.parse(sdp).media if m.kind == "video")
    return [dict(codec.parameters) for codec in media.rtp.codecs if codec.name == "H264"]


async def test_h264_high_profile_publisher_reaches_viewers_in_high(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """A High (64001f) publisher is accepted and recorded; viewers offering it play, others: 422."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    camera = HighProfileCamera()
    transceiver = pc.addTransceiver(camera, direction="sendonly")
    high = [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType == "video/H264" and c.parameters["profile-level-id"] == "64001f"
    ]
    transceiver.setCodecPreferences(high)
    viewer = None
    try:
        with host_addresses(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        whip = _whip(client, special_id, await _key(app, host.id))
        answer = await whip(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert [p["profile-level-id"] for p in _video_fmtp(answer)] == ["64001f"]
        relay = app[RELAYS_KEY].get(special_id)
        assert relay.codec("video").label == (
            "video/H264 (High, profile-level-id 64001f, packetization-mode 1)"
        )

        viewer = await start_viewer(_whep(client, special_id), audio=False)
        await viewer.wait_frames(10)
        assert viewer.video_codec() == "video/H264"
        assert [p["profile-level-id"] for p in _video_fmtp(viewer.answer)] == ["64001f"]
        # what went through was High profile (SPS profile_idc 100), decoded by the viewer
        sps = camera.first_packet.index(b"\x00\x00\x01\x67") + 4
        assert camera.first_packet[sps] == 100
        assert viewer.frames[-1][1].width == 160

        # a viewer that cannot receive High is refused, saying what the stream is
        baseline_only = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            receiver = baseline_only.addTransceiver("video", direction="recvonly")
            receiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpReceiver.getCapabilities("video").codecs
                    if c.mimeType == "video/VP8" or c.parameters.get("profile-level-id") == "42e01f"
                ]
            )
            with host_addresses(LOOPBACK):
                await baseline_only.setLocalDescription(await baseline_only.createOffer())
            refused = await client.post(
                f"/whep/{special_id}", data=baseline_only.localDescription.sdp, headers=SDP
            )
            assert refused.status == 422
            assert await _error(refused) == "codec_unsupported"
        finally:
            await baseline_only.close()

        # the recording is an MP4 of the High stream, as sent (no re-encoding)
        assert (await client.delete(whip.location)).status == 200
        recording = relay.recordings[-1]
        path = app[SETTINGS_KEY].data_dir / "recordings" / recording["file"]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.codec_context.profile) == ("h264", "High")
            frames = sum(1 for _ in container.decode(stream))
        assert frames >= 10
    finally:
        if viewer is not None:
            await viewer.close()
        await pc.close()
