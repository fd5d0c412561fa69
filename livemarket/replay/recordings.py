"""Where a replay's video comes from: the HLS VOD playlist of the show, and its clock.

hls-serve keeps the segments and serves ``GET /hls/{id}/replay.m3u8``; the replay only
needs that playlist's text (its EXT-X-PROGRAM-DATE-TIMEs date the video). A source of it
plugs in as :class:`Recordings`; until one is plugged in, the playlist is fetched from
this server's own origin. An ended special's recording never changes, so its clock is
kept once read (a bounded number of them); "nothing kept" is asked again after a while.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import aiohttp

from livemarket.replay.timeline import VideoClock, parse_vod_playlist

log = logging.getLogger(__name__)

#: How long the fallback waits for its own server's playlist.
FETCH_TIMEOUT_S = 3.0


class Recordings(Protocol):
    async def vod_playlist(self, special_id: int) -> str | None:
        """The special's replay playlist text; ``None`` when nothing was kept (or not ended)."""


def playlist_path(special_id: int) -> str:
    return f"/hls/{special_id}/replay.m3u8"


class OriginRecordings:
    """The fallback source: ``GET /hls/{id}/replay.m3u8`` from ``origin`` (this server)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin.rstrip("/")

    async def vod_playlist(self, special_id: int) -> str | None:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as client,
                client.get(self.origin + playlist_path(special_id)) as response,
            ):
                return await response.text() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("replay: playlist of %s not fetched (%s)", special_id, type(exc).__name__)
            return None


class ReplayClocks:
    """The video clock of each ended special's recording, read once and kept."""

    def __init__(
        self,
        *,
        keep: int = 1024,
        retry_missing_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep = keep
        self.retry_missing_s = retry_missing_s
        self.monotonic = monotonic
        self._clocks: OrderedDict[int, VideoClock] = OrderedDict()
        self._missing: dict[int, float] = {}

    async def clock(self, special_id: int, source: Recordings) -> VideoClock | None:
        """Call only for an ended special: a live show's playlist still grows."""
        found = self._clocks.get(special_id)
        if found is not None:
            self._clocks.move_to_end(special_id)
            return found
        now = self.monotonic()
        if self._missing.get(special_id, -1e18) > now:
            return None
        text = await source.vod_playlist(special_id)
        clock = parse_vod_playlist(text) if text else None
        if clock is None:
            if len(self._missing) >= self.keep:
                self._missing.clear()
            self._missing[special_id] = now + self.retry_missing_s
            return None
        self._missing.pop(special_id, None)
        self._clocks[special_id] = clock
        while len(self._clocks) > self.keep:
            self._clocks.popitem(last=False)
        return clock
