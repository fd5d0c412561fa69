"""LL-HLS packaging of a live special (issue #16): the pure part, no I/O.

``Packager`` turns the relay's frames into CMAF parts and segments; ``playlist``
writes the playlists that name them.
"""

from livemarket.streamer.hls.packager import Packager, Part, Segment, TimestampUnwrapper
from livemarket.streamer.hls.playlist import (
    PartInfo,
    SegmentInfo,
    live_playlist,
    multivariant_playlist,
    replay_playlist,
    vod_playlist,
)

__all__ = [
    "Packager",
    "Part",
    "PartInfo",
    "Segment",
    "SegmentInfo",
    "TimestampUnwrapper",
    "live_playlist",
    "multivariant_playlist",
    "replay_playlist",
    "vod_playlist",
]
