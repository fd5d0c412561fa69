"""aiortc peers for streamer tests: a synthetic publisher and counting viewers, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction

import aiohttp
import av
from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCConfiguration
from aiortc.sdp import SessionDescription

from livemarket.streamer.ice import host_addresses
from livemarket.streamer.ingest import tap_receiver

LOOPBACK = ("127.0.0.1",)

Signal = Callable[[str], Awaitable[str]]


def whip_signal(http: aiohttp.ClientSession, url: str, key: str) -> Signal:
    """A signal posting offers to ``url`` (``…/whip/{id}``) with the host's stream key."""

    async def signal(offer: str) -> str:
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {key}"}
        response = await http.post(url, data=offer, headers=headers)
        assert response.status == 201, await response.text()
        return await response.text()

    return signal


class SyntheticVideo(VideoStreamTrack):
    """A small moving picture at 30 fps (cheap to encode on a shared machine)."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for index, plane in enumerate(frame.planes):
            value = (self.count * 7 + index * 50) % 256
            plane.update(bytes([value]) * plane.buffer_size)
        self.count += 1
        frame.pts = pts
        frame.time_base = time_base
        return frame


def _config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


async def _negotiate(pc: RTCPeerConnection, signal: Signal) -> str:
    with host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    try:
        answer = await signal(pc.localDescription.sdp)
    except BaseException:
        await pc.close()
        raise
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return answer


@dataclass
class Publisher:
    pc: RTCPeerConnection
    video: SyntheticVideo
    answer: str = ""

    async def close(self) -> None:
        await self.pc.close()


async def start_publisher(
    signal: Signal, *, codec: str = "video/VP8", audio: bool = True, also: tuple[str, ...] = ()
) -> Publisher:
    """Offer a synthetic camera (and silence) to ``signal``, which returns the answer.

    The offer lists ``codec``, then the codecs in ``also``, in that order of preference.
    """
    pc = RTCPeerConnection(_config())
    video = SyntheticVideo()
    transceiver = pc.addTransceiver(video, direction="sendonly")
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for name in (codec, *also) for c in capabilities if c.mimeType == name]
    )
    if audio:
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    publisher = Publisher(pc, video)
    publisher.answer = await _negotiate(pc, signal)
    return publisher


@dataclass
class Viewer:
    pc: RTCPeerConnection
    answer: str = ""
    frames: list[tuple[float, av.VideoFrame]] = field(default_factory=list)
    audio_frames: int = 0
    #: (RTP timestamp, data) of encoded video frames, for a viewer started with ``encoded``
    encoded: list[tuple[int, bytes]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def video_codec(self) -> str:
        """The codec the server answered for video (what the sender packetizes)."""
        media = next(m for m in SessionDescription.parse(self.answer).media if m.kind == "video")
        return media.rtp.codecs[0].mimeType

    async def wait_frames(self, count: int, within: float = 10.0) -> None:
        """Wait until ``count`` decoded video frames have arrived in total."""
        async with asyncio.timeout(within):
            while len(self.frames) < count:
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _drain(track: MediaStreamTrack, viewer: Viewer) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if track.kind == "video":
                viewer.frames.append((time.monotonic(), frame))
            else:
                viewer.audio_frames += 1


async def start_viewer(
    signal: Signal,
    *,
    audio: bool = True,
    encoded: bool = False,
    video_codecs: Callable[[RTCRtpCodecCapability], bool] | None = None,
) -> Viewer:
    """A recvonly peer that decodes and counts what it receives.

    With ``encoded``, its video is kept as the encoded frames that arrive
    (nothing decoded), to check exactly what the relay sent. ``video_codecs``
    picks the video codecs it offers (RTX is kept).
    """
    pc = RTCPeerConnection(_config())
    viewer = Viewer(pc)
    video = pc.addTransceiver("video", direction="recvonly")
    if video_codecs is not None:
        capabilities = RTCRtpReceiver.getCapabilities("video").codecs
        video.setCodecPreferences(
            [c for c in capabilities if c.mimeType == "video/rtx" or video_codecs(c)]
        )
    if encoded:
        tap_receiver(
            video.receiver,
            lambda codec, frame: viewer.encoded.append((frame.timestamp, frame.data)),
        )
    if audio:
        pc.addTransceiver("audio", direction="recvonly")

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        viewer.tasks.append(asyncio.ensure_future(_drain(track, viewer)))

    viewer.answer = await _negotiate(pc, signal)
    return viewer


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


async def start_high_profile_publisher(
    signal: Signal,
) -> tuple[RTCPeerConnection, HighProfileCamera]:
    """Offer only H.264 High (64001f) to ``signal`` and send :class:`HighProfileCamera`."""
    pc = RTCPeerConnection(_config())
    camera = HighProfileCamera()
    transceiver = pc.addTransceiver(camera, direction="sendonly")
    transceiver.setCodecPreferences(
        [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType == "video/H264" and c.parameters["profile-level-id"] == "64001f"
        ]
    )
    await _negotiate(pc, signal)
    return pc, camera
