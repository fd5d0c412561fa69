"""The relay's media timeline: continuous across reconnects and RTP wraps, audio/video aligned."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livemarket.streamer.ice import IceConfig
from livemarket.streamer.registry import RelayRegistry
from livemarket.streamer.timeline import Epoch, Timeline
from tests.streamer.peers import LOOPBACK, start_publisher, start_viewer

WRAP = 1 << 32


def test_timeline_is_continuous_across_sources() -> None:
    """A new source's timestamps continue after the old ones by the wall time elapsed."""
    timeline = Timeline(90000)
    assert timeline.map(0, 0.0) == 0
    assert timeline.map(3000, 0.033) == 3000
    timeline.new_source()
    spliced = timeline.map(0, 2.033)  # a new publisher starts again at zero, 2 s later
    assert spliced == 3000 + 180000
    assert timeline.map(3000, 2.066) == spliced + 3000
    assert timeline.map(0, 2.1) == spliced + 3000  # never backwards


def test_audio_and_video_share_the_wall_clock_they_arrived_on() -> None:
    """Video arriving half a second after audio starts half a second later on its timeline."""
    epoch = Epoch()
    audio, video = Timeline(48000, epoch), Timeline(90000, epoch)
    assert audio.map(123_456, 10.0) == 0
    assert video.map(987_654, 10.5) == 45000
    assert audio.map(123_456 + 48000, 11.0) == 48000


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[RelayRegistry]:
    registry = RelayRegistry(
        IceConfig(host_addresses=LOOPBACK), capacity_per_special=3, capacity_per_server=10
    )
    yield registry
    await registry.close()


async def test_a_publisher_whose_rtp_clock_wraps_keeps_playing(
    registry: RelayRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real aiortc publisher whose RTP clock wraps 0.3 s in: the viewer's frames keep coming.

    A wrap that reached the relay's timeline would map every later frame to the last
    timestamp (it never goes backwards) and freeze the picture; aiortc's receiver
    unwraps before the relay's tap. This holds that guarantee against upgrades.
    """
    import aiortc.rtcrtpsender

    random32 = aiortc.rtcrtpsender.random32

    def timestamp_origin_near_the_wrap() -> int:
        """Only the RTP timestamp origin (drawn when sending starts); SSRCs stay random."""
        return WRAP - 27000 if sys._getframe(1).f_code.co_name == "_run_rtp" else random32()

    monkeypatch.setattr(aiortc.rtcrtpsender, "random32", timestamp_origin_near_the_wrap)
    relay = registry.get(1)

    async def publish(offer: str) -> str:
        return (await relay.publish(offer, 7))[1]

    async def play(offer: str) -> str:
        return (await registry.play(1, offer))[1]

    publisher = await start_publisher(publish)
    monkeypatch.undo()
    viewer = await start_viewer(play, encoded=True)
    try:
        await asyncio.sleep(2.5)  # well past the wrap at 0.3 s
        count = len(viewer.encoded)
        await asyncio.sleep(1.0)
        later = viewer.encoded[count:]
        assert len(later) >= 15, len(later)  # still about 30 frames a second
        stamps = [timestamp for timestamp, _ in later]
        assert len(set(stamps)) == len(stamps)  # each frame its own time, none frozen
    finally:
        await viewer.close()
        await publisher.close()
