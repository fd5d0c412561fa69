"""LL-HLS playlist text, with no I/O: live media playlist, VOD/replay, multivariant.

Follows RFC 8216bis (HLS 2nd edition): a live playlist announces blocking
reload and parts (``EXT-X-SERVER-CONTROL``, ``EXT-X-PART-INF``), lists the
parts of its last few segments and of the open one, and hints the next part
(``EXT-X-PRELOAD-HINT``) so a player can ask for it before it exists. URIs are
relative to the playlist: ``{run}/init.mp4``, ``{run}/{msn}.mp4``,
``{run}/{msn}.{part}.mp4``. The functions read only the fields named by
:class:`PartInfo` and :class:`SegmentInfo`, so records kept on disk for a
replay work as well as the packager's own :class:`~.packager.Segment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

VERSION = 9
#: Segments kept in a live playlist.
LIVE_WINDOW = 6


class PartInfo(Protocol):
    """What a playlist needs to know of a part."""

    @property
    def msn(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def independent(self) -> bool: ...


class SegmentInfo(Protocol):
    """What a playlist needs to know of a segment."""

    @property
    def msn(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def program_date_time(self) -> datetime: ...
    @property
    def parts(self) -> Sequence[PartInfo]: ...


def target_duration(duration: float) -> int:
    """Whole seconds covering ``duration`` (ceil, tolerant of float noise; at least 1)."""
    return max(1, math.ceil(round(duration, 3)))


def init_uri(run: str) -> str:
    return f"{run}/init.mp4"


def segment_uri(run: str, msn: int) -> str:
    return f"{run}/{msn}.mp4"


def part_uri(run: str, msn: int, index: int) -> str:
    return f"{run}/{msn}.{index}.mp4"


def _date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC) + timedelta(microseconds=500)  # rounded to the millisecond
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _part_line(run: str, part: PartInfo) -> str:
    line = f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part_uri(run, part.msn, part.index)}"'
    return line + ",INDEPENDENT=YES" if part.independent else line


def _segment_lines(run: str, segment: SegmentInfo, with_parts: bool) -> list[str]:
    lines = [f"#EXT-X-PROGRAM-DATE-TIME:{_date(segment.program_date_time)}"]
    if with_parts:
        lines += [_part_line(run, part) for part in segment.parts]
    lines += [f"#EXTINF:{segment.duration:.5f},", segment_uri(run, segment.msn)]
    return lines


def live_playlist(
    segments: Sequence[SegmentInfo],
    open_parts: Sequence[PartInfo],
    *,
    run: str,
    part_target_s: float,
    segment_target_s: float,
    next_msn: int,
    next_part: int,
    window: int = LIVE_WINDOW,
    target_duration_s: int | None = None,
) -> str:
    """The LL-HLS media playlist of a live run.

    ``segments`` are the finished ones (only the last ``window`` are listed),
    ``open_parts`` the parts of the segment in progress, and (``next_msn``,
    ``next_part``) the part the preload hint names. ``target_duration_s``
    should be the run's sticky value (``Packager.target_duration``): the spec
    forbids it to change; by default it is computed from what is listed.
    """
    shown = list(segments[-window:]) if window > 0 else []
    longest = max((s.duration for s in shown), default=segment_target_s)
    target = target_duration_s or target_duration(max(longest, segment_target_s))
    parts = [part for segment in shown for part in segment.parts] + list(open_parts)
    part_target = max([part_target_s] + [part.duration for part in parts])
    first_msn = shown[0].msn if shown else (open_parts[0].msn if open_parts else next_msn)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * part_target:.5f}",
        f"#EXT-X-PART-INF:PART-TARGET={part_target:.5f}",
        f"#EXT-X-MEDIA-SEQUENCE:{first_msn}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init_uri(run)}"',
    ]
    # Parts stay listed for segments less than three target durations from the end.
    recent = sum(part.duration for part in open_parts)
    keep_parts_from = len(shown)
    for position in range(len(shown) - 1, -1, -1):
        if recent > 3 * target:
            break
        keep_parts_from = position
        recent += shown[position].duration
    for position, segment in enumerate(shown):
        lines += _segment_lines(run, segment, with_parts=position >= keep_parts_from)
    lines += [_part_line(run, part) for part in open_parts]
    lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(run, next_msn, next_part)}"')
    return "\n".join(lines) + "\n"


def replay_playlist(runs: Sequence[tuple[str, Sequence[SegmentInfo]]]) -> str:
    """An HLS VOD playlist of whole runs in order, a discontinuity between runs."""
    runs = [(run, segments) for run, segments in runs if segments]
    longest = max((s.duration for _, segments in runs for s in segments), default=1.0)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{target_duration(longest)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for position, (run, segments) in enumerate(runs):
        if position:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f'#EXT-X-MAP:URI="{init_uri(run)}"')
        for segment in segments:
            lines += _segment_lines(run, segment, with_parts=False)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def vod_playlist(segments: Sequence[SegmentInfo], run: str) -> str:
    """An HLS VOD playlist of one run's segments."""
    return replay_playlist([(run, segments)])


def multivariant_playlist(
    codecs: str,
    bandwidth: int,
    resolution: tuple[int, int] | None,
    media_uri: str = "live.m3u8",
) -> str:
    """The multivariant playlist naming the one variant (RFC 8216bis §4.4.6.2)."""
    attributes = [f"BANDWIDTH={max(1, int(bandwidth))}", f'CODECS="{codecs}"']
    if resolution is not None:
        attributes.append(f"RESOLUTION={resolution[0]}x{resolution[1]}")
    return (
        "\n".join(
            [
                "#EXTM3U",
                f"#EXT-X-VERSION:{VERSION}",
                "#EXT-X-INDEPENDENT-SEGMENTS",
                "#EXT-X-STREAM-INF:" + ",".join(attributes),
                media_uri,
            ]
        )
        + "\n"
    )
