"""Recording without re-encoding: a live session's encoded frames into one file.

VP8 goes to WebM, H.264 to MP4, Opus audio alongside. Muxing and disk writes
run in a worker thread fed by a bounded queue; the loop only enqueues (and
drops, counting, if the disk cannot keep up). The file starts at the first
video keyframe so it is playable from its first frame. A JSON sidecar keeps
the start and end times for replay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from livemarket.storage.base import utcnow
from livemarket.streamer.codecs import vp8_dimensions

logger = logging.getLogger(__name__)

_CLOCK_RATES = {"audio": 48000, "video": 90000}
_ENCODER_NAMES = {"video/vp8": "libvpx", "video/h264": "h264", "audio/opus": "libopus"}


def container_for(video_mime: str | None) -> tuple[str, str]:
    """The (format, file suffix) for a session's video codec."""
    if video_mime is not None and video_mime.lower() == "video/h264":
        return "mp4", ".mp4"
    return "webm", ".webm"


@dataclass
class RecordingInfo:
    """What was written, for the sidecar and the caller."""

    path: Path
    special_id: int
    video_codec: str | None
    audio_codec: str | None
    started_at: datetime
    ended_at: datetime | None = None
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "special_id": self.special_id,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "frames": dict(self.frames),
            "dropped": self.dropped,
        }


_Item = tuple[str, bytes, int, bool]


class Recorder:
    """Owns one worker thread writing one file; ``close()`` finishes it."""

    def __init__(
        self,
        directory: Path,
        special_id: int,
        *,
        video_mime: str | None,
        audio_mime: str | None,
        max_backlog: int = 600,
    ) -> None:
        started = utcnow()
        fmt, suffix = container_for(video_mime)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"special-{special_id}-{started:%Y%m%dT%H%M%S%fZ}{suffix}"
        self.info = RecordingInfo(directory / name, special_id, video_mime, audio_mime, started)
        self._format = fmt
        self._queue: queue.Queue[_Item | None] = queue.Queue(max_backlog)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{special_id}")
        self._started_video = video_mime is None
        self._thread.start()

    def push(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        """Queue a frame (loop thread, never blocks). Frames before the first keyframe wait."""
        if not self._started_video:
            if kind != "video" or not keyframe:
                return
            self._started_video = True
        try:
            self._queue.put_nowait((kind, data, pts, keyframe))
        except queue.Full:
            self.info.dropped += 1

    async def close(self) -> RecordingInfo:
        """Flush, close the file and write the sidecar; returns what was recorded."""
        await asyncio.to_thread(self._finish)
        return self.info

    def _finish(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        writer: _Writer | None = None
        try:
            while (item := self._queue.get()) is not None:
                if writer is None:
                    writer = _Writer(self.info, self._format, item)
                writer.write(*item)
        except Exception:
            logger.exception("recording %s failed", self.info.path)
            while self._queue.get() is not None:  # keep draining until close()
                pass
        finally:
            if writer is not None:
                writer.close()
            self.info.ended_at = utcnow()
            if writer is not None:
                sidecar = self.info.path.with_suffix(".json")
                sidecar.write_text(json.dumps(self.info.as_dict(), indent=2))


class _Writer:
    """The PyAV container; lives on the worker thread only."""

    def __init__(self, info: RecordingInfo, fmt: str, first: _Item) -> None:
        self.info = info
        self.container = av.open(str(info.path), "w", format=fmt)
        self.streams: dict[str, Any] = {}
        self.origin: dict[str, int] = {}
        self.last: dict[str, int] = {}
        if info.video_codec is not None:
            stream: Any = self.container.add_stream(_ENCODER_NAMES[info.video_codec.lower()])
            width, height = _dimensions(info.video_codec, first[1])
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, _CLOCK_RATES["video"])
            # No declared frame rate: PyAV's default (24) became WebM's DefaultDuration,
            # and players and ffmpeg's constant-rate output believed it. WebRTC video
            # has no fixed rate; the timestamps are the timing.
            stream.codec_context.framerate = Fraction(0, 1)
            self.streams["video"] = stream
        if info.audio_codec is not None:
            audio: Any = self.container.add_stream("libopus", rate=48000)
            audio.time_base = Fraction(1, _CLOCK_RATES["audio"])
            self.streams["audio"] = audio

    def write(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            return
        origin = self.origin.setdefault(kind, pts)
        position = pts - origin
        if position <= self.last.get(kind, -1):
            position = self.last[kind] + 1  # muxers need strictly increasing timestamps
        self.last[kind] = position
        packet = av.Packet(data)
        packet.pts = packet.dts = position
        packet.time_base = Fraction(1, _CLOCK_RATES[kind])
        packet.is_keyframe = keyframe
        packet.stream = stream
        self.container.mux(packet)
        self.info.frames[kind] += 1

    def close(self) -> None:
        self.container.close()


def _dimensions(video_mime: str, keyframe: bytes) -> tuple[int, int]:
    if video_mime.lower() == "video/vp8":
        return vp8_dimensions(keyframe)
    return 640, 480  # H.264: the MP4 muxer reads the real size from the SPS in-band
