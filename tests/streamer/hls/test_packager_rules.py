"""The packager's cutting rules on real H.264: where segments and parts start, keyframe asks."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livemarket.streamer.hls import Packager, Part, Segment, TimestampUnwrapper
from tests.streamer.hls.media import Frame, h264_frames, interleave, opus_packets

STARTED = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


class Recorder:
    """A packager with everything it says recorded, in order."""

    def __init__(self, **options: float) -> None:
        self.events: list[Part | Segment | str] = []
        self.packager = Packager(
            video_mime="video/H264",
            audio_mime="audio/opus",
            started_at=STARTED,
            on_part=self.events.append,
            on_segment=self.events.append,
            want_keyframe=lambda: self.events.append("keyframe?"),
            **options,
        )
        self.pushed = 0

    def push(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.packager.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
            if frame.kind == "video":
                self.pushed += 1

    @property
    def parts(self) -> list[Part]:
        return [event for event in self.events if isinstance(event, Part)]

    @property
    def segments(self) -> list[Segment]:
        return [event for event in self.events if isinstance(event, Segment)]


def test_segments_start_only_at_keyframes_after_the_target() -> None:
    # Keyframes every 1.5 s, target 2 s: the first keyframe past 2 s is at 3 s.
    recorder = Recorder()
    recorder.push(h264_frames(300, gop=45))
    recorder.packager.flush()
    segments = recorder.segments
    assert [s.duration for s in segments] == pytest.approx([3.0, 3.0, 3.0, 1.0])
    assert [s.msn for s in segments] == [0, 1, 2, 3]
    assert [s.program_date_time - STARTED for s in segments] == [
        timedelta(seconds=seconds) for seconds in (0, 3, 6, 9)
    ]
    start = 0.0
    for segment in segments:
        assert segment.data == b"".join(part.data for part in segment.parts)
        assert [p.index for p in segment.parts] == list(range(len(segment.parts)))
        assert {p.msn for p in segment.parts} == {segment.msn}
        assert segment.duration == pytest.approx(sum(p.duration for p in segment.parts))
        for part in segment.parts:
            # Parts never exceed their target, and are independent exactly at keyframes.
            assert part.duration <= 0.25 + 1e-9
            on_keyframe = round(start * 30) % 45 == 0
            assert part.independent == on_keyframe, start
            start += part.duration
    assert start == pytest.approx(10.0)


def test_parts_are_published_before_their_segment() -> None:
    recorder = Recorder()
    recorder.push(h264_frames(90, gop=30))
    recorder.packager.flush()
    seen: list[Part] = []
    for event in recorder.events:
        if isinstance(event, Part):
            seen.append(event)
        elif isinstance(event, Segment):
            assert seen[-len(event.parts) :] == list(event.parts)
    assert recorder.packager.next_part == (len(recorder.segments), 0)


def test_a_part_is_out_as_soon_as_the_next_frame_would_not_fit() -> None:
    """Low latency: 7 frames of 1/30 s fill a 0.25 s part; the part does not wait for frame 9."""
    recorder = Recorder()
    frames = h264_frames(40, gop=300)
    recorder.push(frames[:8])  # frame 8 gives frame 7 its duration
    assert [round(p.duration * 30) for p in recorder.parts] == [7]


def test_a_long_segment_asks_for_a_keyframe_throttled() -> None:
    # One keyframe at the start, a forced one at frame 100 (3.33 s), nothing else.
    frames = h264_frames(180, gop=10_000, keyframes_at={100})
    recorder = Recorder()
    asked_at = []
    for number, frame in enumerate(frames):
        before = recorder.events.count("keyframe?")
        recorder.push([frame])
        if recorder.events.count("keyframe?") > before:
            asked_at.append(number)
    # Past 2 s (frame 60), every 0.5 s (15 frames); the keyframe at 100 ends the segment,
    # and the next one asks again from 2 s later (frame 160).
    assert asked_at == [60, 75, 90, 160, 175]
    assert recorder.segments[0].duration == pytest.approx(100 / 30)


def test_waits_for_the_first_keyframe_and_asks_for_it() -> None:
    frames = h264_frames(90, gop=30)[10:]  # joined mid-way through a group of pictures
    recorder = Recorder()
    recorder.push(frames[:20])
    assert recorder.packager.init_segment is None and recorder.packager.resolution is None
    assert recorder.events == ["keyframe?", "keyframe?"]  # at frame 10, then 0.5 s later
    recorder.push(frames[20:])
    recorder.packager.flush()
    assert recorder.packager.init_segment is not None
    assert recorder.packager.resolution == (320, 240)
    first = recorder.segments[0]
    assert first.parts[0].independent
    # Program date time counts from the first frame pushed (20 frames before the keyframe).
    assert first.program_date_time == STARTED + timedelta(seconds=20 / 30)
    assert sum(s.duration for s in recorder.segments) == pytest.approx(60 / 30)


def test_bandwidth_and_target_duration_follow_the_output() -> None:
    recorder = Recorder()
    recorder.push(h264_frames(150, gop=75))  # 2.5 s segments
    recorder.packager.flush()
    packager = recorder.packager
    assert packager.target_duration == 3  # ceil(2.5), and it never shrinks
    peak = max(len(s.data) * 8 / s.duration for s in recorder.segments)
    assert packager.bandwidth == pytest.approx(peak, rel=0.01)


def test_only_h264_is_packaged() -> None:
    with pytest.raises(ValueError, match="H.264"):
        Packager(
            video_mime="video/VP8",
            audio_mime="audio/opus",
            started_at=STARTED,
            on_part=lambda part: None,
            on_segment=lambda segment: None,
            want_keyframe=lambda: None,
        )


def test_unwrapper_extends_32_bit_timestamps() -> None:
    unwrap = TimestampUnwrapper()
    top = (1 << 32) - 3000
    assert [unwrap(t) for t in (top, top + 2999, 2999, 3000, 2000)] == [
        top,
        top + 2999,
        (1 << 32) + 2999,
        (1 << 32) + 3000,
        (1 << 32) + 2000,  # a small step back stays a step back
    ]


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_each_part_carries_the_audio_of_its_own_time_span(tmp_path: Path) -> None:
    """Audio goes with the part whose video time it starts in (ffprobe reads each part)."""
    video = h264_frames(60, gop=30)
    audio = opus_packets(2.0)
    recorder = Recorder()
    recorder.push(interleave(video, audio, audio_lag_s=0.0))
    recorder.packager.flush()
    init = recorder.packager.init_segment
    assert init is not None
    start = 0.0
    for number, part in enumerate(recorder.parts[:-1]):
        path = tmp_path / f"{number}.mp4"
        path.write_bytes(init + part.data)
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time"]
            + ["-of", "json", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        packets = json.loads(result.stdout)["packets"]
        times = [float(p["pts_time"]) for p in packets if p["codec_type"] == "audio"]
        end = start + part.duration
        assert times, number
        assert all(start - 0.02 < t < end for t in times), (number, start, end, times)
        start = end


def test_open_parts_are_those_of_the_segment_in_progress() -> None:
    recorder = Recorder()
    recorder.push(h264_frames(75, gop=60))  # one segment of 2 s, then 0.5 s more
    packager = recorder.packager
    assert [s.msn for s in recorder.segments] == [0]
    msn, index = packager.next_part
    assert msn == 1 and [p.index for p in packager.open_parts] == list(range(index))
    assert packager.open_parts == tuple(p for p in recorder.parts if p.msn == 1)
    assert packager.open_parts[0].independent


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_audio_waiting_for_stalled_video_is_bounded(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder.push(h264_frames(1))  # a keyframe, then the video stalls
    audio = opus_packets(12.0)
    recorder.push(audio)
    recorder.packager.flush()
    init = recorder.packager.init_segment
    assert init is not None and len(recorder.parts) == 1
    path = tmp_path / "part.mp4"
    path.write_bytes(init + recorder.parts[0].data)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    times = [float(t) for t in result.stdout.split()]
    assert len(times) == 500  # the newest 10 s
    assert times[-1] == pytest.approx(audio[-1].seconds)
