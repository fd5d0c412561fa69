"""HLS media on disk: every finished segment and init of a run, and the run's listing.

Layout under ``<data_dir>/hls``: ``<special_id>/<run>/init.mp4``, ``<msn>.mp4``, and
``run.json`` (the run's segments with their durations and wall-clock starts, written
when the run ends), from which ``replay.m3u8`` is built, also after a restart. Parts
are never written: they are only served while live, and a segment is their
concatenation.

All file work runs in one worker thread (:class:`DiskWriter`), in submission order,
with a bounded backlog: the event loop only enqueues, and drops (counting) when the
disk cannot keep up, so the relay is never blocked by a slow disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: A run id: its start time to the millisecond (so names sort as runs began), then noise.
RUN_PATTERN = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{4}$")
#: Media names in a run: the init segment, a segment, a part (``<msn>.<part>.mp4``).
MEDIA_PATTERN = re.compile(r"^(?:init|(\d{1,9})(?:\.(\d{1,4}))?)\.mp4$")
LISTING = "run.json"
#: Each kept segment, one JSON line, appended as it is written: a run cut short by a
#: crash (no ``run.json``) is still listed from these.
JOURNAL = "segments.jsonl"
#: Files waiting for the writer thread; past this, segments are dropped (and counted).
MAX_BACKLOG = 64


def new_run_id(now: datetime) -> str:
    """A fresh run id for a publishing session starting at ``now`` (aware UTC)."""
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(2)


@dataclass(frozen=True)
class SegmentEntry:
    """One kept segment of a run, as listed in ``run.json``."""

    msn: int
    duration: float
    program_date_time: datetime
    size: int

    @property
    def parts(self) -> tuple[()]:
        """None kept: a replay lists whole segments (``playlist.SegmentInfo``)."""
        return ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "msn": self.msn,
            "duration": self.duration,
            "program_date_time": self.program_date_time.isoformat(),
            "bytes": self.size,
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> SegmentEntry:
        return cls(
            int(item["msn"]),
            float(item["duration"]),
            datetime.fromisoformat(item["program_date_time"]),
            int(item.get("bytes", 0)),
        )


@dataclass(frozen=True)
class RunListing:
    """A finished run: what ``replay.m3u8`` lists for it."""

    run: str
    started_at: datetime
    ended_at: datetime
    codecs: str
    segments: tuple[SegmentEntry, ...]
    dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "codecs": self.codecs,
            "segments": [entry.as_dict() for entry in self.segments],
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> RunListing:
        return cls(
            run=str(item["run"]),
            started_at=datetime.fromisoformat(item["started_at"]),
            ended_at=datetime.fromisoformat(item["ended_at"]),
            codecs=str(item.get("codecs", "")),
            segments=tuple(SegmentEntry.from_dict(entry) for entry in item["segments"]),
            dropped=int(item.get("dropped", 0)),
        )


class HlsStore:
    """Paths and blocking file operations (call them from a worker thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run_dir(self, special_id: int, run: str) -> Path:
        return self.root / str(special_id) / run

    def write(self, special_id: int, run: str, name: str, data: bytes) -> None:
        """Write one file atomically (a reader never sees half a segment)."""
        directory = self.run_dir(special_id, run)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, directory / name)

    def keep_segment(self, special_id: int, run: str, entry: SegmentEntry, data: bytes) -> None:
        """Write a segment, then note it in the run's journal."""
        self.write(special_id, run, f"{entry.msn}.mp4", data)
        with (self.run_dir(special_id, run) / JOURNAL).open("a") as journal:
            journal.write(json.dumps(entry.as_dict()) + "\n")

    def write_listing(self, special_id: int, listing: RunListing) -> None:
        data = json.dumps(listing.as_dict(), indent=1).encode()
        self.write(special_id, listing.run, LISTING, data)

    def read_media(self, special_id: int, run: str, name: str) -> tuple[bytes, float] | None:
        """A kept file's bytes and modification time; None when it is not there."""
        if not RUN_PATTERN.match(run) or not MEDIA_PATTERN.match(name):
            return None  # never a path outside the store
        path = self.run_dir(special_id, run) / name
        try:
            return path.read_bytes(), path.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None

    def finished_runs(self, special_id: int, live_run: str | None = None) -> list[RunListing]:
        """The special's runs but ``live_run``, oldest first: from their listings, or from
        their journals for runs a crash cut short."""
        special_dir = self.root / str(special_id)
        if not special_dir.is_dir():
            return []
        runs = []
        for directory in sorted(special_dir.iterdir()):
            if not RUN_PATTERN.match(directory.name) or directory.name == live_run:
                continue
            try:
                listing = self._listing(directory)
            except (ValueError, KeyError, TypeError):
                logger.warning("HLS listing %s is unreadable; left out of the replay", directory)
                continue
            if listing is not None and listing.segments:
                runs.append(listing)
        return runs

    @staticmethod
    def _listing(directory: Path) -> RunListing | None:
        try:
            return RunListing.from_dict(json.loads((directory / LISTING).read_bytes()))
        except FileNotFoundError:
            pass
        try:
            lines = (directory / JOURNAL).read_text().splitlines()
        except FileNotFoundError:
            return None
        if not (directory / "init.mp4").exists():
            return None
        entries = []
        for line in lines:
            try:
                entries.append(SegmentEntry.from_dict(json.loads(line)))
            except ValueError:
                break  # the line being written when the server died
        entries = [e for e in entries if (directory / f"{e.msn}.mp4").exists()]
        if not entries:
            return None
        last = entries[-1]
        return RunListing(
            run=directory.name,
            started_at=entries[0].program_date_time,
            ended_at=last.program_date_time + timedelta(seconds=last.duration),
            codecs="",
            segments=tuple(entries),
        )


class DiskWriter:
    """One worker thread doing file work in order, with a bounded backlog."""

    def __init__(self, max_backlog: int = MAX_BACKLOG) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hls-disk")
        self._max_backlog = max_backlog
        self._pending = 0
        self.dropped = 0

    def submit(self, job: Callable[[], None], *, droppable: bool = True) -> Future[None] | None:
        """Queue ``job``; None (and counted) when the backlog is full and it may be dropped."""
        if droppable and self._pending >= self._max_backlog:
            self.dropped += 1
            return None
        self._pending += 1
        future = self._pool.submit(_logged, job)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[None]) -> None:
        self._pending -= 1  # a worker thread: one int under the GIL, read for a limit only

    async def run(self, job: Callable[[], Any]) -> Any:
        """Run ``job`` after everything queued before it, and return its result."""
        return await asyncio.wrap_future(self._pool.submit(job))

    async def close(self) -> None:
        """Finish what is queued (server shutdown)."""
        await asyncio.to_thread(self._pool.shutdown, wait=True)


def _logged(job: Callable[[], None]) -> None:
    try:
        job()
    except OSError:
        logger.exception("an HLS file could not be written")
