"""The track each viewer's aiortc sender is given: it never yields a frame.

The relay sends a viewer's RTP itself (:mod:`rtpout`), so the sender's own RTP
loop must stay idle; it waits on this track's ``recv`` until the track stops
(the viewer leaves), which ends that loop the way aiortc expects.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class HeldTrack(MediaStreamTrack):
    """A viewer's audio or video track whose frames the relay sends around the sender."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> NoReturn:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()
