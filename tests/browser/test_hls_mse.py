"""Chromium's Media Source Extensions take the packager's CMAF: H.264 + Opus in fMP4.

What hls.js does with LL-HLS, minus the playlist: create a SourceBuffer for the
stream's CODECS string, append the init segment, then the parts as they come, and
play. Checks that Chromium accepts ``opus`` in fMP4 beside ``avc1`` (issue #16's
question), buffers the whole timeline for both tracks, and decodes the pictures.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from livemarket.streamer.hls import Packager, Part
from tests.streamer.hls.media import Frame, h264_frames, interleave, opus_packets

APPEND_AND_PLAY_JS = """
async ([codecs, chunks]) => {
  const mime = `video/mp4; codecs="${codecs}"`;
  const result = {supported: MediaSource.isTypeSupported(mime)};
  if (!result.supported) return result;
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  const source = new MediaSource();
  video.src = URL.createObjectURL(source);
  await new Promise((resolve) => source.addEventListener("sourceopen", resolve, {once: true}));
  const buffer = source.addSourceBuffer(mime);
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    for (const chunk of chunks) {
      buffer.appendBuffer(bytes(chunk));
      await new Promise((resolve, reject) => {
        buffer.addEventListener("updateend", resolve, {once: true});
        buffer.addEventListener("error", () => reject(new Error("append failed")), {once: true});
      });
    }
  } catch (error) {
    result.error = String(error) + " " + (video.error ? video.error.message : "");
    return result;
  }
  result.ranges = [];
  for (let i = 0; i < buffer.buffered.length; i++) {
    result.ranges.push([buffer.buffered.start(i), buffer.buffered.end(i)]);
  }
  source.endOfStream();
  await video.play();
  await new Promise((resolve) => video.addEventListener("ended", resolve, {once: true}));
  result.size = [video.videoWidth, video.videoHeight];
  result.frames = video.getVideoPlaybackQuality().totalVideoFrames;
  result.currentTime = video.currentTime;
  result.error = video.error ? video.error.message : null;
  return result;
}
"""


async def append_and_play(page: Any, frames: list[Frame]) -> tuple[Packager, dict[str, Any]]:
    """Package ``frames`` and hand init + parts to Chromium's MSE; what the page saw."""
    parts: list[Part] = []
    packager = Packager(
        video_mime="video/H264",
        audio_mime="audio/opus",
        started_at=datetime.now(UTC),
        on_part=parts.append,
        on_segment=lambda segment: None,
        want_keyframe=lambda: None,
    )
    for frame in frames:
        packager.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
    packager.flush()
    assert packager.init_segment is not None
    chunks = [packager.init_segment] + [part.data for part in parts]
    encoded = [base64.b64encode(chunk).decode() for chunk in chunks]
    result = await page.evaluate(APPEND_AND_PLAY_JS, [packager.codecs, encoded])
    assert result["supported"], f"Chromium refuses {packager.codecs}"
    assert result.get("error") is None, result
    return packager, result


@pytest.mark.parametrize("profile", ["baseline", "high"])
async def test_chromium_plays_the_parts(page: Any, profile: str) -> None:
    video = h264_frames(60, width=320, height=240, gop=30, profile=profile)
    _, result = await append_and_play(page, interleave(video, opus_packets(2.0)))

    # One continuous range covering both tracks (the buffered ranges intersect them).
    assert len(result["ranges"]) == 1, result["ranges"]
    start, end = result["ranges"][0]
    assert start == pytest.approx(0.0, abs=0.05) and end == pytest.approx(2.0, abs=0.05)
    assert result["size"] == [320, 240]
    assert result["currentTime"] == pytest.approx(2.0, abs=0.05)
    assert result["frames"] >= len(video) - 2  # every picture (the last may not be counted)


async def test_a_resolution_change_mid_run_plays_on(page: Any) -> None:
    """WebRTC encoders scale the picture with the bandwidth: a new SPS arrives in-band."""
    large = h264_frames(60, width=640, height=480, gop=30)
    small = [
        Frame("video", f.data, f.timestamp + 60 * 3000, f.keyframe)
        for f in h264_frames(60, width=320, height=240, gop=30)
    ]
    packager, result = await append_and_play(page, interleave(large + small, opus_packets(4.0)))

    assert packager.resolution == (640, 480)  # the init segment's, from the first SPS
    assert len(result["ranges"]) == 1 and result["ranges"][0][1] == pytest.approx(4.0, abs=0.05)
    assert result["currentTime"] == pytest.approx(4.0, abs=0.05)
    assert result["size"] == [320, 240]  # the last picture shown is the new size
    assert result["frames"] >= 118
