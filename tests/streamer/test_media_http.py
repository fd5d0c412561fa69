"""WHIP/WHEP over HTTP: status codes, headers, auth, and media through the real app."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
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
from aiortc.sdp import SessionDescription

from livemarket.accounts.service import stream_key_of
from livemarket.bus.events import special_topic
from livemarket.config import Settings
from livemarket.scheduler.models import Special
from livemarket.storage.base import utcnow
from livemarket.streamer.ice import host_addresses
from livemarket.web.typedefs import BUS_KEY, RELAYS_KEY, SESSIONS_KEY, SETTINGS_KEY
from tests.conftest import UserMaker, build_settings
from tests.streamer.peers import LOOPBACK, HighProfileCamera, start_publisher, start_viewer

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
    """Wrong content type is 415; an ended or far-future special is 403; unknown is 404;
    an unreadable offer is 400 invalid_sdp."""
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
    assert garbage.status == 400
    assert await _error(garbage) == "invalid_sdp"


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
        assert await _error(full) == "webrtc_seats_full"

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


async def _wait_video(app: web.Application, special_id: int, after: int = 0) -> int:
    """Wait until the relay has had more than ``after`` video frames; returns the count."""
    relay = app[RELAYS_KEY].get(special_id)
    async with asyncio.timeout(10):
        while relay.figures()["video"]["frames"] <= after + 5:
            await asyncio.sleep(0.05)
    return int(relay.figures()["video"]["frames"])


async def _wait_state(client: Client, special_id: int, state: str) -> None:
    async with asyncio.timeout(10):
        while True:
            status = await client.get(f"/api/v1/specials/{special_id}/stream")
            if (await status.json())["state"] == state:
                return
            await asyncio.sleep(0.05)


async def test_a_publisher_that_hangs_up_before_its_delete_still_ends_the_broadcast(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """Peer closed, then DELETE (medooze whip-whep's order): 200, and the show is ended.

    A second DELETE finds nothing; a dropped session replaced by a new one cannot
    end the new broadcast.
    """
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    key = await _key(app, host.id)
    whip = _whip(client, special_id, key)
    publisher = await start_publisher(whip)
    seen = await _wait_video(app, special_id)
    await publisher.close()
    await _wait_state(client, special_id, "reconnecting")
    ended = await client.delete(whip.location)
    assert ended.status == 200, await ended.text()
    await _wait_state(client, special_id, "ended")
    assert (await client.delete(whip.location)).status == 404

    # dropped, then replaced by the same host: the old Location no longer ends anything
    first = _whip(client, special_id, key)
    dropped = await start_publisher(first)
    await _wait_video(app, special_id, after=seen)
    await dropped.close()
    await _wait_state(client, special_id, "reconnecting")
    replacement = await start_publisher(_whip(client, special_id, key))
    try:
        await _wait_state(client, special_id, "live")
        assert (await client.delete(first.location)).status == 404
        await _wait_state(client, special_id, "live")
    finally:
        await replacement.close()


async def test_a_viewers_late_delete_is_harmless(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """A viewer that closed its connection first, then DELETEs: 200 once, the show goes on."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    publisher = await start_publisher(_whip(client, special_id, await _key(app, host.id)))
    whep = _whep(client, special_id)
    viewer = await start_viewer(whep)
    try:
        await viewer.wait_frames(5)
        await viewer.close()
        relay = app[RELAYS_KEY].get(special_id)
        async with asyncio.timeout(10):
            while relay.viewer_count:
                await asyncio.sleep(0.05)
        assert (await client.delete(whep.location)).status == 200
        assert (await client.delete(whep.location)).status == 404
        assert relay.state == "live" and relay.publisher_owner == host.id
    finally:
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


def _video_fmtp(sdp: str) -> list[dict[str, Any]]:
    media = next(m for m in SessionDescription.parse(sdp).media if m.kind == "video")
    return [dict(codec.parameters) for codec in media.rtp.codecs if codec.name == "H264"]


async def test_h264_high_profile_publisher_reaches_viewers_in_high(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """A High (64001f) publisher is accepted and recorded; H.264 viewers play, VP8-only: 422."""
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

        # a viewer offering no High (Chromium) is answered its best profile with the
        # same packetization-mode, and decodes the High stream forwarded as is
        baseline = await start_viewer(
            _whep(client, special_id),
            audio=False,
            video_codecs=lambda c: c.parameters.get("profile-level-id") in ("42e01f", "42001f"),
        )
        try:
            assert [p["profile-level-id"] for p in _video_fmtp(baseline.answer)] == ["42e01f"]
            await baseline.wait_frames(10)
            assert baseline.frames[-1][1].width == 160
        finally:
            await baseline.close()

        # a viewer with no H.264 at all is refused, saying what the stream is
        vp8_only = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            receiver = vp8_only.addTransceiver("video", direction="recvonly")
            receiver.setCodecPreferences(
                [c for c in RTCRtpReceiver.getCapabilities("video").codecs if c.name == "VP8"]
            )
            with host_addresses(LOOPBACK):
                await vp8_only.setLocalDescription(await vp8_only.createOffer())
            refused = await client.post(
                f"/whep/{special_id}", data=vp8_only.localDescription.sdp, headers=SDP
            )
            assert refused.status == 422
            assert await _error(refused) == "codec_unsupported"
            assert "High" in (await refused.json())["error"]["message"]
        finally:
            await vp8_only.close()

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


async def test_whip_and_whep_answers_follow_rfc_9725(
    client: Client, app: web.Application, make_user: UserMaker
) -> None:
    """PATCH on a session is 501 (no trickle ICE, no ICE restart); other methods 405 with Allow."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    whip = _whip(client, special_id, await _key(app, host.id))
    publisher = await start_publisher(whip)
    try:
        assert whip.location.startswith(f"/whip/{special_id}/")
        patched = await client.patch(
            whip.location,
            data="a=end-of-candidates\r\n",
            headers={"Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*"},
        )
        assert patched.status == 501
        assert await _error(patched) == "not_implemented"
        for method in ("GET", "PUT", "POST"):
            refused = await client.request(method, whip.location)
            assert refused.status == 405, method
            assert "DELETE" in refused.headers["Allow"]
            refused = await client.request(method if method != "POST" else "GET", "/whip/1")
            assert refused.status == 405 and "POST" in refused.headers["Allow"]
        options = await client.options(f"/whep/{special_id}")
        assert options.status == 200 and options.headers["Accept-Post"] == "application/sdp"
        # the PATCH changed nothing: the session still ends with its DELETE
        assert relay_live(app, special_id)
        assert (await client.delete(whip.location)).status == 200
    finally:
        await publisher.close()


def relay_live(app: web.Application, special_id: int) -> bool:
    return bool(app[RELAYS_KEY].get(special_id).state == "live")


async def test_a_failed_dtls_handshake_is_logged_counted_and_told_to_the_host(
    client: Client, app: web.Application, make_user: UserMaker, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher whose DTLS fails: WARNING with special and reason, /metrics, figures."""
    host = await make_user("host", "host1")
    special_id = await _special(app, host.id)
    whip = _whip(client, special_id, await _key(app, host.id))

    async def wrong_fingerprint(offer: str) -> str:
        # the server checks the publisher's certificate against this line: it fails
        tampered = re.sub(r"(a=fingerprint:sha-256 )([0-9A-F]{2})", r"\g<1>00", offer)
        assert tampered != offer
        return str(await whip(tampered))

    caplog.set_level(logging.WARNING, logger="livemarket.streamer.relay")
    publisher = await start_publisher(wrong_fingerprint)
    try:
        relay = app[RELAYS_KEY].get(special_id)
        async with asyncio.timeout(15):
            while relay.negotiation_failures["publisher"] == 0:
                await asyncio.sleep(0.05)
        assert relay.publisher_failure is not None
        assert relay.publisher_failure["reason"] == "DTLS handshake failed: fingerprint mismatch"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            f"special {special_id}" in r.getMessage() and "fingerprint mismatch" in r.getMessage()
            for r in warnings
        ), [r.getMessage() for r in warnings]
        text = await (await client.get("/metrics")).text()
        assert (
            f'livemarket_stream_negotiation_failures_total{{role="publisher",'
            f'special_id="{special_id}"}} 1.0' in text
        ), [line for line in text.splitlines() if "negotiation" in line]
        from tests.conftest import login

        await login(client, "host1")
        figures = await (await client.get(f"/api/v1/specials/{special_id}/stream/figures")).json()
        assert figures["publisher_failure"]["reason"].endswith("fingerprint mismatch")
        assert figures["state"] == "reconnecting"
    finally:
        await publisher.close()
