"""One destination's FFmpeg: the special's FLV in, RTMP(S) out, reconnecting with backoff.

Each destination has its own process and its own bounded queue, so a slow or
dead ingest only ever loses its own tags; the others and the WebRTC viewers
never wait for it. FFmpeg copies (``-c copy``): no encoding happens here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from livemarket.simulcast.flv import VIDEO, Tag
from livemarket.simulcast.rules import redact
from livemarket.simulcast.status import (
    CONNECTING,
    FAILED,
    LIVE,
    RETRYING,
    STOPPED,
    DestinationStatus,
    backoff,
)

logger = logging.getLogger(__name__)

#: Seconds a push must stay up before its reconnect count starts over.
STABLE_S = 20.0


def pusher_args(target: str) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "flv", "-i", "pipe:0", "-c", "copy",
        "-progress", "pipe:1", "-stats_period", "1",
        "-flush_packets", "1", "-f", "flv", "-flvflags", "no_duration_filesize", target,
    ]  # fmt: skip


class Pusher:
    """Keeps one destination pushed until ``stop``; ``offer`` is called on the loop."""

    def __init__(
        self,
        status: DestinationStatus,
        target: str,
        preamble: Callable[[], bytes],
        ready: asyncio.Event,
        *,
        on_change: Callable[[], None],
        request_keyframe: Callable[[], None] = lambda: None,
        clock: Callable[[], float],
        max_backlog: int = 900,
        backoff_steps: tuple[float, ...] | None = None,
    ) -> None:
        self.status = status
        self._target = target
        self._preamble = preamble
        self._ready = ready
        self._on_change = on_change
        self._clock = clock
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_backlog)
        self._waiting_keyframe = True
        self._request_keyframe = request_keyframe
        self._backoff = backoff_steps
        self._process: asyncio.subprocess.Process | None = None
        self._failed: str | None = None

    def offer(self, tag: Tag) -> None:
        """Queue a tag for this destination; a full queue drops until the next keyframe."""
        if tag.is_config:
            return  # part of the preamble every (re)start sends first
        if self._waiting_keyframe:
            if not tag.is_keyframe:
                if tag.kind == VIDEO:
                    # Browsers send keyframes on request only: ask (the relay throttles).
                    self._request_keyframe()
                return
            self._waiting_keyframe = False
        try:
            self._queue.put_nowait(tag.raw)
        except asyncio.QueueFull:
            self.status.dropped += 1
            self._waiting_keyframe = True  # resume on a whole picture, not a broken one

    async def run(self) -> None:
        """Push, and after each failure wait and push again, until cancelled."""
        attempt = 0
        try:
            while True:
                started = self._clock()
                reason = await self._push_once()
                if self._failed is not None:
                    return
                if self._clock() - started > STABLE_S:
                    attempt = 0
                attempt += 1
                self.status.reconnects += 1
                self._set(RETRYING, reason)
                delay = backoff(attempt, self._backoff) if self._backoff else backoff(attempt)
                await asyncio.sleep(delay)
        finally:
            if self._failed is None:
                self._set(STOPPED, None)

    def _set(self, state: str, reason: str | None) -> None:
        self.status.state, self.status.reason = state, reason
        if state != LIVE:
            self.status.live_since = None
            self.status.bitrate_bps = 0
        self._on_change()

    async def _push_once(self) -> str:
        """One FFmpeg run; returns why it ended (redacted: never the stream key)."""
        if self.status.state != RETRYING:
            self._set(CONNECTING, None)
        await self._ready.wait()  # the encoder's header and codec configuration came
        self._drain_queue()
        process = await asyncio.create_subprocess_exec(
            *pusher_args(self._target),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._process = process
        assert process.stdin and process.stdout and process.stderr
        feed = asyncio.create_task(self._feed(process.stdin))
        progress = asyncio.create_task(self._progress(process.stdout))
        errors = asyncio.create_task(process.stderr.read(4096))
        try:
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
            for task in (feed, progress, errors):
                task.cancel()
            await asyncio.gather(feed, progress, return_exceptions=True)
            self._process = None
        stderr = b"" if errors.cancelled() or errors.exception() else errors.result()
        lines = stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"ffmpeg exited with status {process.returncode}"
        # Shown to the room and logged: never the target (its last part is the stream key).
        reason = redact(
            reason.replace(self._target, "the ingest"), [self._target.rsplit("/", 1)[-1]]
        )
        logger.info("simulcast destination %s: %s", self.status.destination_id, reason)
        return reason

    def _drain_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._waiting_keyframe = True

    async def _feed(self, stdin: asyncio.StreamWriter) -> None:
        try:
            stdin.write(self._preamble())
            while True:
                stdin.write(await self._queue.get())
                await stdin.drain()
        except (ConnectionError, BrokenPipeError):
            return  # the process ended; ``run`` sees why
        finally:
            stdin.close()

    async def _progress(self, stdout: asyncio.StreamReader) -> None:
        """Read ``-progress`` lines: live once bytes leave, with the bitrate they make."""
        last_size, last_at = 0, self._clock()
        while line := await stdout.readline():
            key, _, value = line.decode(errors="replace").strip().partition("=")
            if key != "total_size" or not value.isdigit():
                continue
            size, now = int(value), self._clock()
            if size > 0 and self.status.state != LIVE:
                self._set(LIVE, None)
                self.status.live_since = now
            if now > last_at:
                self.status.bitrate_bps = int((size - last_size) * 8 / (now - last_at))
            self.status.bytes_sent += max(0, size - last_size)
            last_size, last_at = size, now

    def restart(self) -> None:
        """End the current push (its input starts over); ``run`` reconnects it."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    def fail(self, reason: str) -> None:
        """Give up on this destination for the session (VP8 publisher, encoder gone)."""
        self._failed = reason
        self.restart()
        self._set(FAILED, reason)
