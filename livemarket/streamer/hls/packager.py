"""Frames in, LL-HLS parts and segments out: the relay's encoded frames as CMAF, no I/O.

A :class:`Packager` is a relay frame sink (``push(kind, data, timestamp,
keyframe)``). It waits for the first H.264 keyframe carrying SPS and PPS, then
cuts the stream into parts of at most ``part_target_s`` (a new part at every
keyframe, so a part is independent exactly when it starts with one) and
segments of about ``segment_target_s`` that always start at a keyframe. WebRTC
publishers send keyframes only when asked, so a segment running past its
target calls ``want_keyframe()`` (at most once per ``keyframe_retry_s`` of media
time). A frame's duration is the gap to the next frame's timestamp, so the
newest video frame is held back until the next one arrives. Opus packets go
into the part whose video time span they start in; each track fragment states
its own decode time, so late audio or a gap never shifts the timeline.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from livemarket.streamer.hls import fmp4
from livemarket.streamer.hls.h264 import (
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    Sps,
    length_prefixed,
    parse_sps,
    split_nals,
)
from livemarket.streamer.hls.opus import packet_samples
from livemarket.streamer.hls.playlist import target_duration

VIDEO_CLOCK = fmp4.VIDEO_TIMESCALE
AUDIO_CLOCK = fmp4.AUDIO_TIMESCALE
#: Opus packets kept waiting for video to catch up (10 s of 20 ms packets); older ones go.
MAX_PENDING_AUDIO = 500
#: Duration given to the very last video frame at ``flush()`` when no frame came before it.
_DEFAULT_FRAME_TICKS = VIDEO_CLOCK // 30


@dataclass(frozen=True)
class Part:
    """One LL-HLS partial segment: ``data`` is a ``moof`` + ``mdat``; duration in seconds."""

    msn: int
    index: int
    duration: float
    independent: bool
    data: bytes


@dataclass(frozen=True)
class Segment:
    """A finished media segment: its parts in order; ``data`` is their concatenation."""

    msn: int
    duration: float
    program_date_time: datetime
    parts: tuple[Part, ...]
    data: bytes


class TimestampUnwrapper:
    """Extends 32-bit RTP-style timestamps to a monotonic-ish integer line (RFC 3550 wrap)."""

    def __init__(self, bits: int = 32) -> None:
        self._modulus = 1 << bits
        self._half = 1 << (bits - 1)
        self._raw: int | None = None
        self._extended = 0

    def __call__(self, timestamp: int) -> int:
        if self._raw is None:
            self._extended = timestamp
        else:
            delta = (timestamp - self._raw) % self._modulus
            if delta >= self._half:  # a step backwards (reordering), not a 2 GB-tick jump
                delta -= self._modulus
            self._extended += delta
        self._raw = timestamp
        return self._extended


class Packager:
    """Packages one publishing run (one H.264 + optional Opus stream) as LL-HLS CMAF."""

    def __init__(
        self,
        *,
        video_mime: str,
        audio_mime: str | None,
        started_at: datetime,
        on_part: Callable[[Part], None],
        on_segment: Callable[[Segment], None],
        want_keyframe: Callable[[], None],
        segment_target_s: float = 2.0,
        part_target_s: float = 0.25,
        keyframe_retry_s: float = 0.5,
    ) -> None:
        """``started_at`` is the wall-clock time of the first video frame pushed.

        Audio other than Opus is dropped (the stream is then video-only).
        ValueError when the video is not H.264 or the targets make no sense.
        """
        if video_mime.lower() != "video/h264":
            raise ValueError(f"HLS packaging needs H.264 video, not {video_mime}")
        if not 0 < part_target_s <= segment_target_s:
            raise ValueError("need 0 < part_target_s <= segment_target_s")
        self.has_audio = audio_mime is not None and audio_mime.lower() == "audio/opus"
        self.started_at = started_at
        self.segment_target_s = segment_target_s
        self.part_target_s = part_target_s
        self._on_part = on_part
        self._on_segment = on_segment
        self._want_keyframe = want_keyframe
        self._segment_ticks = round(segment_target_s * VIDEO_CLOCK)
        self._part_ticks = round(part_target_s * VIDEO_CLOCK)
        self._retry_ticks = round(keyframe_retry_s * VIDEO_CLOCK)
        self._unwrap = {"video": TimestampUnwrapper(), "audio": TimestampUnwrapper()}
        self._first_video: int | None = None  # extended timestamp, for program date times
        self._origin: int | None = None  # extended video timestamp of decode time 0
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self._sps_info: Sps | None = None
        self._init: bytes | None = None
        self._asked_at: int | None = None  # video timestamp of the last keyframe request
        # The frame held back until its successor gives its duration: (decode time, sample, key)
        self._held: tuple[int, bytes, bool] | None = None
        self._last_duration = _DEFAULT_FRAME_TICKS
        # The open part: video samples, its start, its length so far (video ticks)
        self._part_samples: list[fmp4.Sample] = []
        self._part_start = 0
        self._part_ticks_used = 0
        self._part_end = 0  # where the last published part ended
        # (decode time, packet) not yet placed; bounded should the video stall while audio flows
        self._audio: deque[tuple[int, bytes]] = deque(maxlen=MAX_PENDING_AUDIO)
        self._audio_origin = 0
        self._audio_floor = 0  # audio decode time already placed
        self._audio_start = 0  # decode time of the samples _take_audio returned last
        # The open segment
        self._msn = 0
        self._segment_start = 0
        self._parts: list[Part] = []
        self._sequence = 0  # mfhd sequence number of the last fragment
        self._peak_bitrate = 0
        self._target_duration = max(1, math.ceil(segment_target_s))
        self._bytes_out = 0
        self._ticks_out = 0

    # -- what the serving side reads --------------------------------------------------------

    @property
    def init_segment(self) -> bytes | None:
        """``ftyp`` + ``moov``; None until the first keyframe with SPS and PPS arrived."""
        return self._init

    @property
    def codecs(self) -> str:
        """The playlist CODECS value, e.g. ``avc1.42e01f,opus`` (``avc1`` until the SPS)."""
        video = self._sps_info.codec if self._sps_info is not None else "avc1"
        return f"{video},opus" if self.has_audio else video

    @property
    def resolution(self) -> tuple[int, int] | None:
        """Picture width and height from the SPS; None before it."""
        if self._sps_info is None:
            return None
        return self._sps_info.width, self._sps_info.height

    @property
    def bandwidth(self) -> int:
        """Peak bits per second over finished segments (the average of parts before that)."""
        if self._peak_bitrate:
            return self._peak_bitrate
        if not self._ticks_out:
            return 0
        return round(self._bytes_out * 8 * VIDEO_CLOCK / self._ticks_out)

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION for this run: whole seconds, never shrinking (RFC 8216 §6.2.1)."""
        return self._target_duration

    @property
    def open_parts(self) -> tuple[Part, ...]:
        """Parts already published of the segment in progress (msn ``next_part[0]``)."""
        return tuple(self._parts)

    @property
    def next_part(self) -> tuple[int, int]:
        """(msn, part index) of the next part to be published: the preload hint's target."""
        return self._msn, len(self._parts)

    # -- the relay sink ---------------------------------------------------------------------

    def push(self, kind: str, data: bytes, timestamp: int, keyframe: bool) -> None:
        """Take one encoded frame (Annex B access unit or Opus packet) at its codec clock."""
        if kind == "video":
            self._push_video(data, self._unwrap["video"](timestamp), keyframe)
        elif kind == "audio" and self.has_audio:
            self._push_audio(data, self._unwrap["audio"](timestamp))

    def flush(self) -> None:
        """End of stream: publish the held frame, the open part and the open segment."""
        if self._held is not None:
            self._place(*self._held, self._last_duration)
            self._held = None
        self._close_part(final=True)
        self._close_segment()

    # -- video ------------------------------------------------------------------------------

    def _push_video(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        if self._first_video is None:
            self._first_video = timestamp
        nals = split_nals(data)
        if keyframe:
            self._learn_parameter_sets(nals)
        if self._origin is None:
            if not keyframe or self._init is None:
                self._ask_keyframe(timestamp)
                return
            self._origin = timestamp
            self._audio_origin = self._to_audio(timestamp)
        now = timestamp - self._origin
        if self._held is not None:
            held_time, sample, held_key = self._held
            duration = now - held_time
            if duration <= 0:  # a repeated or reordered timestamp: keep decode order moving
                duration = 1
            self._last_duration = duration
            self._place(held_time, sample, held_key, duration)
        if keyframe:
            self._close_part()
            if self._parts and now - self._segment_start >= self._segment_ticks:
                self._close_segment()
        elif now - self._segment_start >= self._segment_ticks:
            self._ask_keyframe(timestamp)
        self._held = (now, length_prefixed(nals), keyframe)

    def _learn_parameter_sets(self, nals: list[bytes]) -> None:
        for nal in nals:
            kind = nal[0] & 0x1F
            if kind == NAL_SPS and self._sps is None:
                self._sps_info = parse_sps(nal)
                self._sps = nal
            elif kind == NAL_PPS and self._pps is None:
                self._pps = nal
            elif kind == NAL_IDR:
                break
        if self._init is None and self._sps is not None and self._pps is not None:
            channels = 2 if self.has_audio else None
            self._init = fmp4.init_segment(self._sps, self._pps, audio_channels=channels)

    def _ask_keyframe(self, timestamp: int) -> None:
        """Call ``want_keyframe()`` unless it was called less than the retry time ago."""
        if self._asked_at is not None and 0 <= timestamp - self._asked_at < self._retry_ticks:
            return
        self._asked_at = timestamp
        self._want_keyframe()

    def _place(self, time: int, sample: bytes, keyframe: bool, duration: int) -> None:
        """Add a video frame whose duration is now known to the open part."""
        if self._part_samples and self._part_ticks_used + duration > self._part_ticks:
            self._close_part()
        if not self._part_samples:
            self._part_start = time
            if not self._parts:
                self._segment_start = time
        self._part_samples.append(fmp4.Sample(sample, duration, keyframe))
        self._part_ticks_used += duration
        if self._part_ticks_used + duration > self._part_ticks:
            self._close_part()  # another such frame would not fit: publish now, not later

    # -- audio ------------------------------------------------------------------------------

    def _to_audio(self, video_ticks: int) -> int:
        return video_ticks * AUDIO_CLOCK // VIDEO_CLOCK

    def _push_audio(self, data: bytes, timestamp: int) -> None:
        if self._origin is None:
            return  # nothing plays before the first keyframe
        time = timestamp - self._audio_origin
        if time < self._audio_floor:
            return  # before the start, or overlapping what was already published
        self._audio.append((time, data))

    def _take_audio(self, end: int | None) -> list[fmp4.Sample]:
        """Audio samples starting before ``end`` (audio ticks; None: all), with durations.

        The first one starts at ``self._audio_start``.
        """
        pending = self._audio
        taken: list[tuple[int, bytes]] = []
        while pending and (end is None or pending[0][0] < end):
            taken.append(pending.popleft())
        samples = []
        for index, (time, packet) in enumerate(taken):
            if index + 1 < len(taken):
                following: int | None = taken[index + 1][0]
            else:
                following = pending[0][0] if pending else None
            duration = following - time if following is not None else 0
            if duration <= 0:
                duration = packet_samples(packet) or 960
            samples.append(fmp4.Sample(packet, duration))
        if taken:
            self._audio_start = taken[0][0]
            self._audio_floor = taken[-1][0] + samples[-1].duration
        return samples

    # -- output -----------------------------------------------------------------------------

    def _close_part(self, final: bool = False) -> None:
        if not self._part_samples:
            return
        start, length = self._part_start, self._part_ticks_used
        tracks = [fmp4.TrackFragment(fmp4.VIDEO_TRACK_ID, start, self._part_samples)]
        if self.has_audio:
            end = None if final else self._to_audio(start + length)
            audio = self._take_audio(end)
            if audio:
                tracks.append(fmp4.TrackFragment(fmp4.AUDIO_TRACK_ID, self._audio_start, audio))
        self._sequence += 1
        data = fmp4.fragment(self._sequence, tracks)
        part = Part(
            self._msn,
            len(self._parts),
            length / VIDEO_CLOCK,
            self._part_samples[0].sync,
            data,
        )
        self._parts.append(part)
        self._part_samples = []
        self._part_ticks_used = 0
        self._part_end = start + length
        self._bytes_out += len(data)
        self._ticks_out += length
        self._on_part(part)

    def _close_segment(self) -> None:
        if not self._parts:
            return
        assert self._origin is not None and self._first_video is not None
        ticks = self._part_end - self._segment_start
        data = b"".join(part.data for part in self._parts)
        offset = self._origin - self._first_video + self._segment_start
        segment = Segment(
            self._msn,
            ticks / VIDEO_CLOCK,
            self.started_at + timedelta(seconds=offset / VIDEO_CLOCK),
            tuple(self._parts),
            data,
        )
        self._target_duration = max(self._target_duration, target_duration(segment.duration))
        if ticks > 0:
            self._peak_bitrate = max(self._peak_bitrate, len(data) * 8 * VIDEO_CLOCK // ticks)
        self._msn += 1
        self._parts = []
        self._on_segment(segment)
