"""Playlist text rules (RFC 8216bis) that players rely on."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from livemarket.streamer.hls import (
    Packager,
    Part,
    Segment,
    live_playlist,
    multivariant_playlist,
    replay_playlist,
    vod_playlist,
)

STARTED = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
PART_TARGET = 0.25


def make_segment(
    msn: int, parts: int = 8, part_s: float = 7 / 30, first_key: bool = True
) -> Segment:
    made = tuple(Part(msn, i, part_s, first_key and i == 0, b"") for i in range(parts))
    return Segment(
        msn, parts * part_s, STARTED + timedelta(seconds=msn * parts * part_s), made, b""
    )


def live(segments: list[Segment], open_parts: list[Part], next_msn: int, next_part: int) -> str:
    return live_playlist(
        segments,
        open_parts,
        run="r7",
        part_target_s=PART_TARGET,
        segment_target_s=2.0,
        next_msn=next_msn,
        next_part=next_part,
    )


def tag_values(text: str, tag: str) -> list[str]:
    return [line.split(":", 1)[1] for line in text.splitlines() if line.startswith(tag + ":")]


def attribute(line: str, name: str) -> str:
    match = re.search(rf'{name}=("[^"]*"|[^,]*)', line)
    assert match is not None, (name, line)
    return match.group(1).strip('"')


def test_live_playlist_announces_low_latency_and_hints_the_next_part() -> None:
    segments = [make_segment(msn) for msn in range(3)]
    open_parts = [Part(3, 0, 7 / 30, True, b""), Part(3, 1, 7 / 30, False, b"")]
    text = live(segments, open_parts, next_msn=3, next_part=2)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert int(tag_values(text, "#EXT-X-VERSION")[0]) >= 6
    control = tag_values(text, "#EXT-X-SERVER-CONTROL")[0]
    assert attribute(control, "CAN-BLOCK-RELOAD") == "YES"
    part_target = float(attribute(tag_values(text, "#EXT-X-PART-INF")[0], "PART-TARGET"))
    assert float(attribute(control, "PART-HOLD-BACK")) >= 2 * part_target
    assert tag_values(text, "#EXT-X-MAP") == ['URI="r7/init.mp4"']
    assert tag_values(text, "#EXT-X-MEDIA-SEQUENCE") == ["0"]
    # Every part fits its announced target; INDEPENDENT only where a keyframe starts it.
    part_lines = tag_values(text, "#EXT-X-PART")
    assert all(float(attribute(p, "DURATION")) <= part_target for p in part_lines)
    assert part_lines[-2:] == [
        'DURATION=0.23333,URI="r7/3.0.mp4",INDEPENDENT=YES',
        'DURATION=0.23333,URI="r7/3.1.mp4"',
    ]
    assert lines[-1] == '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="r7/3.2.mp4"'
    # Each segment has its program date time, duration and URI, in order.
    assert [line for line in lines if line.endswith(".mp4") and "#" not in line] == [
        "r7/0.mp4",
        "r7/1.mp4",
        "r7/2.mp4",
    ]
    assert tag_values(text, "#EXT-X-PROGRAM-DATE-TIME")[1] == "2026-12-03T20:00:01.867Z"
    durations = [float(v.rstrip(",")) for v in tag_values(text, "#EXTINF")]
    assert int(tag_values(text, "#EXT-X-TARGETDURATION")[0]) >= max(map(math.ceil, durations))


def test_preload_hint_crosses_into_the_next_segment() -> None:
    text = live([make_segment(0)], [], next_msn=1, next_part=0)
    assert text.splitlines()[-1] == '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="r7/1.0.mp4"'


def test_window_slides_and_old_parts_go() -> None:
    segments = [make_segment(msn) for msn in range(20)]
    text = live(segments, [Part(20, 0, 0.2, True, b"")], next_msn=20, next_part=1)
    assert tag_values(text, "#EXT-X-MEDIA-SEQUENCE") == ["14"]
    uris = [line for line in text.splitlines() if re.fullmatch(r"r7/\d+\.mp4", line)]
    assert uris == [f"r7/{msn}.mp4" for msn in range(14, 20)]
    # Parts are listed only for segments within three target durations of the end.
    listed = {
        int(attribute(p, "URI").split("/")[1].split(".")[0])
        for p in tag_values(text, "#EXT-X-PART")
    }
    target = int(tag_values(text, "#EXT-X-TARGETDURATION")[0])
    assert 20 in listed and 19 in listed and 14 not in listed
    assert sum(make_segment(m).duration for m in listed - {20}) <= 3 * target + 1.9


def test_part_target_covers_an_overlong_part() -> None:
    text = live([], [Part(0, 0, 0.4, True, b"")], next_msn=0, next_part=1)
    assert float(attribute(tag_values(text, "#EXT-X-PART-INF")[0], "PART-TARGET")) >= 0.4
    assert tag_values(text, "#EXT-X-MEDIA-SEQUENCE") == ["0"]


def test_vod_playlist_lists_everything_and_ends() -> None:
    segments = [make_segment(msn) for msn in range(10)]
    text = vod_playlist(segments, "r7")
    assert tag_values(text, "#EXT-X-PLAYLIST-TYPE") == ["VOD"]
    assert text.splitlines()[-1] == "#EXT-X-ENDLIST"
    assert len(tag_values(text, "#EXTINF")) == 10
    assert len(tag_values(text, "#EXT-X-PROGRAM-DATE-TIME")) == 10
    assert "#EXT-X-PART:" not in text and "PRELOAD-HINT" not in text


@dataclass(frozen=True)
class Stored:
    """A replay's own light record (no bytes): playlists accept it as a segment."""

    msn: int
    duration: float
    program_date_time: datetime
    parts: tuple[Part, ...] = ()


def test_replay_playlist_joins_runs_with_a_discontinuity() -> None:
    first = [Stored(0, 2.0, STARTED), Stored(1, 1.5, STARTED + timedelta(seconds=2))]
    second = [Stored(0, 2.2, STARTED + timedelta(minutes=5))]
    text = replay_playlist([("a", first), ("empty", []), ("b", second)])
    lines = text.splitlines()
    assert tag_values(text, "#EXT-X-MAP") == ['URI="a/init.mp4"', 'URI="b/init.mp4"']
    assert lines.count("#EXT-X-DISCONTINUITY") == 1
    assert lines.index("#EXT-X-DISCONTINUITY") < lines.index('#EXT-X-MAP:URI="b/init.mp4"')
    assert [line for line in lines if line.endswith(".mp4") and "#" not in line] == [
        "a/0.mp4",
        "a/1.mp4",
        "b/0.mp4",
    ]
    assert tag_values(text, "#EXT-X-TARGETDURATION") == ["3"]
    assert lines[-1] == "#EXT-X-ENDLIST"


def test_multivariant_names_the_one_variant() -> None:
    text = multivariant_playlist("avc1.42e01f,opus", 1_650_000, (1280, 720))
    stream = tag_values(text, "#EXT-X-STREAM-INF")[0]
    assert attribute(stream, "BANDWIDTH") == "1650000"
    assert attribute(stream, "CODECS") == "avc1.42e01f,opus"
    assert attribute(stream, "RESOLUTION") == "1280x720"
    assert text.splitlines()[-1] == "live.m3u8"
    assert "RESOLUTION" not in multivariant_playlist("avc1.42e01f", 0, None)


def test_live_playlists_of_a_real_run_name_only_published_parts_and_hint_the_next() -> None:
    from tests.streamer.hls.media import h264_frames

    published: set[str] = set()
    segments: list[Segment] = []
    hinted: list[str] = []

    def on_part(part: Part) -> None:
        uri = f"r7/{part.msn}.{part.index}.mp4"
        if hinted:
            assert uri == hinted[-1]  # the part a player was told to preload is the next one
        published.add(uri)

    def on_segment(segment: Segment) -> None:
        published.add(f"r7/{segment.msn}.mp4")
        segments.append(segment)

    packager = Packager(
        video_mime="video/H264",
        audio_mime=None,
        started_at=STARTED,
        on_part=on_part,
        on_segment=on_segment,
        want_keyframe=lambda: None,
    )
    for frame in h264_frames(450, gop=60):  # 15 s, 2 s segments
        packager.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
        msn, index = packager.next_part
        text = live_playlist(
            segments,
            packager.open_parts,
            run="r7",
            part_target_s=packager.part_target_s,
            segment_target_s=packager.segment_target_s,
            next_msn=msn,
            next_part=index,
            target_duration_s=packager.target_duration,
        )
        listed = [attribute(p, "URI") for p in tag_values(text, "#EXT-X-PART")]
        listed += [line for line in text.splitlines() if re.fullmatch(r"r7/\d+\.mp4", line)]
        assert set(listed) <= published
        hint = attribute(tag_values(text, "#EXT-X-PRELOAD-HINT")[0], "URI")
        assert hint not in published
        hinted.append(hint)
        assert tag_values(text, "#EXT-X-TARGETDURATION") == ["2"]
    assert len(segments) == 7 and len(tag_values(text, "#EXTINF")) == 6
