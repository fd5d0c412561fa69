"""The once-per-special FFmpeg: relay frames in, FLV out (H.264 copied, Opus -> AAC).

The relay's loop only enqueues (``push`` never blocks; a full queue drops and
counts). A worker thread muxes the encoded frames into NUT with PyAV and writes
them to FFmpeg's stdin; a second thread reads FFmpeg's FLV and hands it on.
The audio is transcoded here, once, whatever the number of destinations.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import IO, Any

import av

logger = logging.getLogger(__name__)

_RATES = {"video": 90000, "audio": 48000}
_Item = tuple[str, bytes, int, bool]

ENCODER_ARGS = [
    "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
    "-fflags", "+genpts+nobuffer", "-probesize", "65536", "-analyzeduration", "200000",
    "-f", "nut", "-i", "pipe:0",
    "-map", "0:v:0", "-map", "0:a:0?",
    "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
    "-max_interleave_delta", "300000", "-flush_packets", "1",
    "-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1",
]  # fmt: skip


class FrameEncoder:
    """One special's encoder process; ``on_flv`` gets its output bytes (reader thread)."""

    def __init__(
        self,
        special_id: int,
        on_flv: Callable[[bytes], None],
        *,
        on_exit: Callable[[FrameEncoder], None] = lambda _: None,
        max_backlog: int = 600,
    ) -> None:
        self.special_id = special_id
        self.dropped = 0
        self.error: str | None = None
        self._on_flv = on_flv
        self._on_exit = on_exit
        self.closing = False
        self._queue: queue.Queue[_Item | None] = queue.Queue(max_backlog)
        self._started = False
        self._thread = threading.Thread(target=self._run, name=f"simulcast-{special_id}")
        self._thread.start()

    def push(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        """Queue a frame (loop thread, never blocks); the stream starts at a keyframe."""
        if not self._started:
            if kind != "video" or not keyframe:
                return
            self._started = True
        try:
            self._queue.put_nowait((kind, data, pts, keyframe))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Finish (blocking: call through ``asyncio.to_thread``)."""
        self.closing = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        process = subprocess.Popen(
            ENCODER_ARGS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdin and process.stdout and process.stderr
        reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        reader.start()
        muxer: _NutMuxer | None = None
        try:
            while (item := self._queue.get()) is not None:
                if muxer is None:
                    muxer = _NutMuxer(process.stdin)
                muxer.write(*item)
        except (BrokenPipeError, OSError, av.FFmpegError) as exc:
            self.error = f"encoder stopped: {exc}"
            logger.warning("simulcast encoder of special %s stopped: %s", self.special_id, exc)
            while self._queue.get() is not None:  # keep draining until close()
                pass
        finally:
            if muxer is not None:
                muxer.close()
            with contextlib.suppress(OSError):
                process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(timeout=5)
            process.stderr.close()

    def _read(self, stdout: IO[bytes]) -> None:
        while chunk := stdout.read1(65536):  # type: ignore[attr-defined]
            self._on_flv(chunk)
        stdout.close()
        self._on_exit(self)  # FFmpeg's output ended: closed by us, or it died


class _NutMuxer:
    """PyAV muxing already-encoded frames into NUT on a pipe (worker thread only)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        # Small buffer, flushed per packet: the next process sees each frame at once.
        self.container: Any = av.open(
            pipe, "w", format="nut", buffer_size=4096, container_options={"flush_packets": "1"}
        )
        video: Any = self.container.add_stream("h264")
        video.time_base = Fraction(1, _RATES["video"])
        video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"  # SPS has the real size
        audio: Any = self.container.add_stream("libopus", rate=48000)
        audio.time_base = Fraction(1, _RATES["audio"])
        self.streams = {"video": video, "audio": audio}
        self.origin_s: float | None = None
        self.last: dict[str, int] = {}

    def write(self, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        rate = _RATES[kind]
        if self.origin_s is None:
            self.origin_s = pts / rate  # the first item is a video keyframe
        position = pts - round(self.origin_s * rate)
        if position < 0:
            return  # audio from before the first keyframe
        if position <= self.last.get(kind, -1):
            position = self.last[kind] + 1  # muxers need strictly increasing timestamps
        self.last[kind] = position
        packet = av.Packet(data)
        packet.pts = packet.dts = position
        packet.time_base = Fraction(1, rate)
        packet.is_keyframe = keyframe
        packet.stream = self.streams[kind]
        self.container.mux(packet)

    def close(self) -> None:
        with contextlib.suppress(OSError, av.FFmpegError):
            self.container.close()
