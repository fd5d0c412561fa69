"""Where a replay's video comes from: the HLS VOD playlist of the show, and its clock.

hls-serve keeps each publishing run on disk (``streamer/hls/store.py``) and serves
``GET /hls/{id}/replay.m3u8``; the replay needs the same playlist's text (its
EXT-X-PROGRAM-DATE-TIMEs date the video). Any source of it plugs in as :class:`Recordings`;
:class:`StoreRecordings` reads hls-serve's store. An ended special's recording never
changes once its last run is closed, so its clock is kept a minute once read (a bounded
number of them); "nothing kept" is asked again after ten seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from livemarket.replay.timeline import VideoClock, parse_vod_playlist
from livemarket.streamer.hls import playlist
from livemarket.streamer.hls.store import HlsStore


class Recordings(Protocol):
    async def vod_playlist(self, special_id: int) -> str | None:
        """The special's replay playlist text; ``None`` when nothing was kept."""


def playlist_path(special_id: int) -> str:
    return f"/hls/{special_id}/replay.m3u8"


class StoreRecordings:
    """The replay playlist as ``/hls/{id}/replay.m3u8`` serves it, from hls-serve's store.

    ``live_run`` names a run still being published here (left out, as the route does).
    """

    def __init__(
        self, store: HlsStore, live_run: Callable[[int], str | None] = lambda _id: None
    ) -> None:
        self.store = store
        self.live_run = live_run

    async def vod_playlist(self, special_id: int) -> str | None:
        live = self.live_run(special_id)
        runs = await asyncio.to_thread(self.store.finished_runs, special_id, live)
        if not runs:
            return None
        return playlist.replay_playlist([(listing.run, listing.segments) for listing in runs])


class ReplayClocks:
    """The video clock of each ended special's recording, kept for a minute once read.

    A minute, like ``replay.m3u8``'s ``max-age``: a run still being closed when the special
    ended (its publisher not yet gone) joins the replay within that time.
    """

    def __init__(
        self,
        *,
        keep: int = 1024,
        keep_s: float = 60.0,
        retry_missing_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep = keep
        self.keep_s = keep_s
        self.retry_missing_s = retry_missing_s
        self.monotonic = monotonic
        self._clocks: OrderedDict[int, tuple[float, VideoClock | None]] = OrderedDict()

    async def clock(self, special_id: int, source: Recordings) -> VideoClock | None:
        """Call only for an ended special: a live show's playlist still grows."""
        now = self.monotonic()
        found = self._clocks.get(special_id)
        if found is not None and found[0] > now:
            return found[1]
        text = await source.vod_playlist(special_id)
        clock = parse_vod_playlist(text) if text else None
        until = now + (self.keep_s if clock is not None else self.retry_missing_s)
        self._clocks[special_id] = (until, clock)
        self._clocks.move_to_end(special_id)
        while len(self._clocks) > self.keep:
            self._clocks.popitem(last=False)
        return clock
