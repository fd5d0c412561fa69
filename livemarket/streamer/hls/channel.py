"""One run of a special's HLS: the live window in memory, waiters, and disk for replay.

A channel lives exactly as long as one publishing session (the relay makes it through
its session sinks, see :class:`~livemarket.streamer.relay.SessionSink`): frames go
into the packager (``hls/packager.py``, pure), whose parts and segments land here.
The last few segments and their parts stay in memory for the live playlist and
its media URLs; each finished segment (and the init segment) is also handed to
the disk writer for replay; at the end the run's listing is written.

Blocking playlist reloads wait on an :class:`asyncio.Event` that is set, and
replaced, whenever a part or segment appears or the run ends: no polling.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from livemarket.storage.base import utcnow
from livemarket.streamer.hls import playlist
from livemarket.streamer.hls.packager import Packager, Part, Segment
from livemarket.streamer.hls.store import DiskWriter, HlsStore, RunListing, SegmentEntry

logger = logging.getLogger(__name__)

#: Segments the live playlist lists (the contract's sliding window).
WINDOW_SEGMENTS = 6
#: Segments (with their parts) kept in memory: the window and a little more, for a
#: player or cache still fetching the oldest one as it slides out.
KEPT_SEGMENTS = WINDOW_SEGMENTS + 3
SEGMENT_TARGET_S = 2.0
PART_TARGET_S = 0.25
#: BANDWIDTH announced before anything was measured (a small studio stream).
DEFAULT_BANDWIDTH = 1_000_000


@dataclass(frozen=True)
class Media:
    """Bytes served under an immutable URL, with when they appeared (Last-Modified)."""

    data: bytes
    modified: float
    etag: str


@dataclass(frozen=True)
class Rendered:
    """The live playlist as of one change, rendered once for every reader."""

    text: str
    modified: float
    etag: str


def etag_of(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


class HlsChannel:
    """A special's live HLS for one publishing session (one ``run``)."""

    def __init__(
        self,
        special_id: int,
        run: str,
        *,
        video_mime: str,
        audio_mime: str | None,
        started_at: datetime,
        store: HlsStore,
        writer: DiskWriter,
        want_keyframe: Callable[[], None],
        on_closed: Callable[[HlsChannel], None] | None = None,
        segment_target_s: float = SEGMENT_TARGET_S,
        part_target_s: float = PART_TARGET_S,
        now: Callable[[], datetime] = utcnow,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.special_id = special_id
        self.run = run
        self.started_at = started_at
        self.segment_target_s = segment_target_s
        self.part_target_s = part_target_s
        self._store = store
        self._writer = writer
        self._on_closed = on_closed
        self._wall_clock = wall_clock
        self._segments: deque[Segment] = deque(maxlen=KEPT_SEGMENTS)
        self._open_parts: list[Part] = []
        self._media: dict[str, Media] = {}
        self._kept: list[SegmentEntry] = []
        self._changed = asyncio.Event()
        self._rendered: Rendered | None = None
        self._modified = wall_clock()
        self._init_written = False
        self.ended = False
        self.errors = 0
        #: Segments not kept for the replay because the disk fell behind.
        self.dropped = 0
        self._video_mime = video_mime
        self._audio_mime = audio_mime
        self._want_keyframe = want_keyframe
        #: Made at the first video frame: its wall-clock time anchors PROGRAM-DATE-TIME.
        self.packager: Packager | None = None
        self._now = now

    # -- frames in (the relay's session sink) ------------------------------------

    def push(self, kind: str, data: bytes, timestamp: int, keyframe: bool) -> None:
        """One encoded frame from the relay; a packaging fault never reaches the relay."""
        if self.ended:
            return
        try:
            if self.packager is None:
                if kind != "video":
                    return  # nothing is packaged before the first picture
                self.packager = Packager(
                    video_mime=self._video_mime,
                    audio_mime=self._audio_mime,
                    started_at=self._now(),
                    on_part=self._add_part,
                    on_segment=self._add_segment,
                    want_keyframe=self._want_keyframe,
                    segment_target_s=self.segment_target_s,
                    part_target_s=self.part_target_s,
                )
            self.packager.push(kind, data, timestamp, keyframe)
        except Exception:
            self.errors += 1
            if self.errors == 1:
                logger.exception("special %s: HLS packaging failed", self.special_id)

    async def close(self) -> None:
        """The publishing session ended: close the open segment, write the run's listing."""
        if self.ended:
            return
        try:
            if self.packager is not None:
                self.packager.flush()
        except Exception:
            logger.exception("special %s: HLS packaging failed at the end", self.special_id)
        self.ended = True
        self._notify()
        if self._on_closed is not None:
            self._on_closed(self)
        if self._kept:
            listing = RunListing(
                run=self.run,
                started_at=self.started_at,
                ended_at=datetime.fromtimestamp(self._wall_clock(), tz=self.started_at.tzinfo),
                codecs=self.codecs,
                segments=tuple(self._kept),
                dropped=self.dropped,
            )
            await self._writer.run(lambda: self._write_listing(listing))

    def _write_listing(self, listing: RunListing) -> None:
        """In the writer thread, after every segment write: list only what reached disk."""
        directory = self._store.run_dir(self.special_id, self.run)
        if not (directory / "init.mp4").exists():
            return
        kept = tuple(e for e in listing.segments if (directory / f"{e.msn}.mp4").exists())
        if kept:
            self._store.write_listing(
                self.special_id,
                RunListing(
                    listing.run,
                    listing.started_at,
                    listing.ended_at,
                    listing.codecs,
                    kept,
                    listing.dropped + len(listing.segments) - len(kept),
                ),
            )

    # -- packager callbacks ------------------------------------------------------

    def _add_part(self, part: Part) -> None:
        self._open_parts.append(part)
        self._keep(f"{part.msn}.{part.index}.mp4", part.data)
        self._write_init()
        self._notify()

    def _add_segment(self, segment: Segment) -> None:
        self._write_init()
        if len(self._segments) == self._segments.maxlen:
            self._forget(self._segments[0])
        self._segments.append(segment)
        self._open_parts = [part for part in self._open_parts if part.msn > segment.msn]
        self._keep(f"{segment.msn}.mp4", segment.data)
        data = segment.data
        entry = SegmentEntry(segment.msn, segment.duration, segment.program_date_time, len(data))
        if self._writer.submit(
            lambda: self._store.keep_segment(self.special_id, self.run, entry, data)
        ):
            self._kept.append(entry)
        else:
            self.dropped += 1
            logger.warning("special %s: the disk is behind; HLS segment dropped", self.special_id)
        self._notify()

    def _write_init(self) -> None:
        if self._init_written or self.packager is None:
            return
        init = self.packager.init_segment
        if init is None:
            return
        self._init_written = True
        self._keep("init.mp4", init)
        self._writer.submit(
            lambda: self._store.write(self.special_id, self.run, "init.mp4", init),
            droppable=False,
        )

    def _keep(self, name: str, data: bytes) -> None:
        self._media[name] = Media(data, self._wall_clock(), etag_of(data))

    def _forget(self, segment: Segment) -> None:
        self._media.pop(f"{segment.msn}.mp4", None)
        for part in segment.parts:
            self._media.pop(f"{part.msn}.{part.index}.mp4", None)

    def _notify(self) -> None:
        self._rendered = None
        self._modified = self._wall_clock()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- what readers see ---------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Playable: the init segment and a first whole segment exist.

        A playlist of parts only (the first segment still open) is valid LL-HLS, but
        hls.js takes it for an empty level (``levelEmptyError``) and retries; offering
        the stream one segment later (about 2 s after go-live) avoids that.
        """
        return not self.ended and "init.mp4" in self._media and bool(self._segments)

    @property
    def codecs(self) -> str:
        return self.packager.codecs if self.packager else ""

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self.packager.resolution if self.packager else None

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION of this run (whole seconds, never shrinking)."""
        if self.packager is None:
            return max(1, math.ceil(self.segment_target_s))
        return self.packager.target_duration

    @property
    def next_position(self) -> tuple[int, int]:
        """(msn, part index) of the next part to appear."""
        if self._open_parts:
            last = self._open_parts[-1]
            return last.msn, last.index + 1
        if self._segments:
            return self._segments[-1].msn + 1, 0
        return 0, 0

    def bandwidth(self) -> int:
        """Peak bits per second (the multivariant's BANDWIDTH); a guess before any part."""
        measured = self.packager.bandwidth if self.packager else 0
        return measured or DEFAULT_BANDWIDTH

    def has(self, msn: int, part: int | None) -> bool:
        """Whether the playlist already holds segment ``msn`` (whole), or its part ``part``."""
        next_msn, next_part = self.next_position
        if msn < next_msn:
            return True
        if part is None or msn > next_msn:
            return False
        return part < next_part

    async def wait_for(self, msn: int, part: int | None, timeout_s: float) -> bool:
        """Wait until :meth:`has` (True), the run ends or ``timeout_s`` passes (False)."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self.has(msn, part):
                    if self.ended:
                        return False
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def live_playlist(self) -> Rendered:
        """The LL-HLS media playlist now (rendered once per change)."""
        if self._rendered is None:
            next_msn, next_part = self.next_position
            text = playlist.live_playlist(
                list(self._segments),
                list(self._open_parts),
                run=self.run,
                part_target_s=self.part_target_s,
                segment_target_s=self.segment_target_s,
                next_msn=next_msn,
                next_part=next_part,
                window=WINDOW_SEGMENTS,
                target_duration_s=self.target_duration,
            )
            self._rendered = Rendered(text, self._modified, etag_of(text.encode()))
        return self._rendered

    def media(self, name: str) -> Media | None:
        """``init.mp4``, ``<msn>.mp4`` or ``<msn>.<part>.mp4`` while kept in memory."""
        return self._media.get(name)
