"""Real H.264 and Opus through the Packager, checked by ffprobe and ffmpeg (not by us).

The encoded frames (libx264 baseline and high, libopus) go into a Packager as the
relay would push them; the init segment, segments and a VOD playlist are written
to a folder, and ffmpeg's own HLS demuxer must find the right codecs, picture
size and duration, and decode every frame that went in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livemarket.streamer.hls import Packager, Part, Segment, vod_playlist
from tests.streamer.hls.media import Frame, h264_frames, interleave, opus_packets

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
    reason="ffprobe/ffmpeg not installed",
)

RUN = "r1"


def package(
    frames: list[Frame], *, audio: bool, timestamp_offset: int = 0, audio_offset: int = 0
) -> tuple[Packager, list[Part], list[Segment]]:
    parts: list[Part] = []
    segments: list[Segment] = []
    packager = Packager(
        video_mime="video/H264",
        audio_mime="audio/opus" if audio else None,
        started_at=datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
        on_part=parts.append,
        on_segment=segments.append,
        want_keyframe=lambda: None,
    )
    for frame in frames:
        offset = timestamp_offset if frame.kind == "video" else audio_offset
        stamp = (frame.timestamp + offset) % (1 << 32)
        packager.push(frame.kind, frame.data, stamp, frame.keyframe)
    packager.flush()
    return packager, parts, segments


def write_vod(folder: Path, packager: Packager, segments: list[Segment]) -> Path:
    (folder / RUN).mkdir()
    assert packager.init_segment is not None
    (folder / RUN / "init.mp4").write_bytes(packager.init_segment)
    for segment in segments:
        (folder / RUN / f"{segment.msn}.mp4").write_bytes(segment.data)
    playlist = folder / "vod.m3u8"
    playlist.write_text(vod_playlist(segments, RUN))
    return playlist


def probe(playlist: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-of", "json", "-show_format"]
        + ["-show_streams", str(playlist)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def decoded_frames(playlist: Path, stream: str) -> int:
    """Frames ffmpeg decodes from the playlist's stream ``v`` or ``a``; errors fail."""
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(playlist)]
        + ["-map", f"0:{stream}:0", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    return sum(1 for line in result.stdout.splitlines() if line and not line.startswith("#"))


def packet_times(playlist: Path, stream: str) -> list[float]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries"]
        + ["packet=pts_time", "-of", "csv=p=0", str(playlist)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [float(line) for line in result.stdout.split()]


@pytest.mark.parametrize(
    ("profile", "width", "height", "codec_prefix"),
    [("baseline", 320, 240, "avc1.42"), ("high", 426, 238, "avc1.64")],
)
def test_video_and_opus_play_in_ffmpeg(
    tmp_path: Path, profile: str, width: int, height: int, codec_prefix: str
) -> None:
    video = h264_frames(150, width=width, height=height, gop=30, profile=profile)
    audio = opus_packets(5.0)
    packager, parts, segments = package(interleave(video, audio), audio=True)

    assert packager.codecs.startswith(codec_prefix) and packager.codecs.endswith(",opus")
    assert packager.resolution == (width, height)
    playlist = write_vod(tmp_path, packager, segments)
    info = probe(playlist)
    streams = {stream["codec_type"]: stream for stream in info["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (width, height)
    assert int(streams["video"]["nb_read_frames"]) == len(video)
    assert streams["audio"]["codec_name"] == "opus"
    assert int(streams["audio"]["nb_read_frames"]) == len(audio)
    assert float(info["format"]["duration"]) == pytest.approx(5.0, abs=0.05)

    assert decoded_frames(playlist, "v") == len(video)
    assert decoded_frames(playlist, "a") == len(audio)
    # The timeline as ffmpeg sees it: one frame every 1/30 s, one packet every 20 ms.
    video_times = packet_times(playlist, "v:0")
    assert video_times == pytest.approx([i / 30 for i in range(len(video))], abs=1e-3)
    audio_times = packet_times(playlist, "a:0")
    assert audio_times == pytest.approx([i * 0.02 for i in range(len(audio))], abs=1e-3)


def test_parts_alone_play_in_ffmpeg(tmp_path: Path) -> None:
    """What an LL-HLS player fetches: init, then parts one by one, concatenated."""
    video = h264_frames(60, gop=30)
    audio = opus_packets(2.0)
    packager, parts, _ = package(interleave(video, audio), audio=True)
    assert packager.init_segment is not None
    stream = tmp_path / "parts.mp4"
    stream.write_bytes(packager.init_segment + b"".join(part.data for part in parts))
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-of", "json", "-show_streams", str(stream)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    streams = {s["codec_type"]: s for s in json.loads(result.stdout)["streams"]}
    assert int(streams["video"]["nb_read_frames"]) == len(video)
    assert int(streams["audio"]["nb_read_frames"]) == len(audio)


def test_wrapping_timestamps_keep_one_timeline(tmp_path: Path) -> None:
    """A stream whose 32-bit timestamps wrap mid-way still plays, evenly timed."""
    video = h264_frames(120, gop=30)
    audio = opus_packets(4.0)
    # Video wraps after about 1 s, audio after about 2 s.
    packager, _, segments = package(
        interleave(video, audio),
        audio=True,
        timestamp_offset=(1 << 32) - 90000,
        audio_offset=(1 << 32) - 96000,
    )
    assert sum(segment.duration for segment in segments) == pytest.approx(4.0)
    playlist = write_vod(tmp_path, packager, segments)
    assert decoded_frames(playlist, "v") == len(video)
    times = packet_times(playlist, "v:0")
    assert times == pytest.approx([i / 30 for i in range(len(video))], abs=1e-3)


def test_a_resolution_change_mid_run_decodes(tmp_path: Path) -> None:
    """WebRTC encoders scale the picture: the new SPS travels in-band, every frame decodes."""
    large = h264_frames(60, width=640, height=480, gop=30)
    small = [
        Frame("video", f.data, f.timestamp + 60 * 3000, f.keyframe)
        for f in h264_frames(60, width=320, height=240, gop=30)
    ]
    packager, _, segments = package(interleave(large + small, opus_packets(4.0)), audio=True)
    playlist = write_vod(tmp_path, packager, segments)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries"]
        + ["frame=width,height", "-of", "csv=p=0", str(playlist)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sizes = [line.strip(",") for line in result.stdout.split()]
    assert sizes == ["640,480"] * 60 + ["320,240"] * 60


def test_jittery_capture_times_are_kept_exactly(tmp_path: Path) -> None:
    """WebRTC frames carry capture times, not a fixed rate: each one lands where it was taken."""
    import random

    rng = random.Random(7)
    video = h264_frames(90, gop=30)
    stamps = [i * 3000 + rng.randrange(-900, 900) if i else 0 for i in range(len(video))]
    jittery = [Frame("video", f.data, t, f.keyframe) for f, t in zip(video, stamps, strict=True)]
    packager, parts, segments = package(jittery, audio=False)
    assert all(part.duration <= 0.25 for part in parts)
    playlist = write_vod(tmp_path, packager, segments)
    assert packet_times(playlist, "v:0") == pytest.approx([t / 90000 for t in stamps], abs=2e-5)
    assert decoded_frames(playlist, "v") == len(video)
