"""Unrepaired loss on the ingest: viewers are gated until a keyframe and recover a picture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import av
import pytest
from aiortc import RTCRtpSender

from livemarket.streamer.codecs import is_vp8_keyframe
from livemarket.streamer.ice import IceConfig
from livemarket.streamer.registry import RelayRegistry
from livemarket.streamer.relay import Relay
from tests.streamer.peers import LOOPBACK, Publisher, Viewer, start_publisher, start_viewer

HOST = 7
#: The synthetic camera's frame interval in 90 kHz RTP units (30 fps).
FRAME_TICKS = 3000


class LossyVideo:
    """Drops the publisher's next video packets on the wire and never retransmits them."""

    def __init__(self, publisher: Publisher) -> None:
        sender = next(s for s in publisher.pc.getSenders() if s.kind == "video")
        self._ssrc = sender._ssrc.to_bytes(4, "big")
        self._to_drop = 0
        self.dropped: set[int] = set()
        transport = sender.transport
        send_rtp: Callable[[bytes], Awaitable[None]] = transport._send_rtp
        retransmit: Callable[[int], Awaitable[None]] = sender._retransmit

        async def lossy_send(data: bytes) -> None:
            is_rtcp = 192 <= data[1] <= 223
            if not is_rtcp and self._to_drop and data[8:12] == self._ssrc:
                self._to_drop -= 1
                self.dropped.add(int.from_bytes(data[2:4], "big"))
                return
            await send_rtp(data)

        async def no_repair(sequence_number: int) -> None:
            if sequence_number not in self.dropped:
                await retransmit(sequence_number)

        transport._send_rtp = lossy_send  # type: ignore[method-assign]
        sender._retransmit = no_repair  # type: ignore[method-assign]
        self._sender: RTCRtpSender = sender

    def drop(self, packets: int) -> None:
        self._to_drop = packets


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[RelayRegistry]:
    registry = RelayRegistry(
        IceConfig(host_addresses=LOOPBACK), capacity_per_special=5, capacity_per_server=10
    )
    yield registry
    await registry.close()


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


async def test_unrepaired_ingest_loss_gates_viewers_until_a_keyframe(
    registry: RelayRegistry,
) -> None:
    """Lost publisher packets (no retransmission) make the relay skip the hole, ask
    the publisher for a keyframe and hold viewers back until it comes: every gap in
    what a viewer receives ends at a keyframe, and the stream decodes again after it.
    """
    relay: Relay = registry.get(8)

    async def publish(offer: str) -> str:
        return (await relay.publish(offer, HOST))[1]

    async def play(offer: str) -> str:
        return (await registry.play(8, offer))[1]

    publisher = await start_publisher(publish)
    lossy = LossyVideo(publisher)
    viewer: Viewer = await start_viewer(play, encoded=True)
    try:
        await _until(lambda: len(viewer.encoded) >= 20)
        requests = relay.figures()["keyframe_requests"]
        lossy.drop(3)  # three frames of the small picture, gone for good
        await _until(lambda: relay.figures()["ingest_losses"] >= 1)
        received_at_loss = len(viewer.encoded)
        await _until(lambda: len(viewer.encoded) >= received_at_loss + 20)
        figures = relay.figures()
        assert figures["keyframe_requests"] > requests
        assert figures["ingest_frames_dropped"] > 0
        assert len(lossy.dropped) == 3

        frames = viewer.encoded
        first = next(i for i, (_, data) in enumerate(frames) if is_vp8_keyframe(data))
        frames = frames[first:]
        gaps = [
            i
            for i in range(1, len(frames))
            if frames[i][0] - frames[i - 1][0] > FRAME_TICKS * 3 // 2
        ]
        assert gaps, "the lost frames never reached the viewer"
        for index in gaps:
            assert is_vp8_keyframe(frames[index][1]), "a delta frame followed a gap"

        # The chain the viewer got decodes, through the loss, to the end.
        decoder = av.CodecContext.create("vp8", "r")
        pictures = []
        for _, data in frames:
            pictures += decoder.decode(av.Packet(data))
        assert len(pictures) == len(frames)
        assert (pictures[-1].width, pictures[-1].height) == (160, 120)
    finally:
        await viewer.close()
        await publisher.close()
