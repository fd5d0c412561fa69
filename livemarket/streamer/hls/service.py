"""This server's HLS: a channel per live special, made as each publishing session starts.

Registered with the relay registry as a session-sink maker, so every publisher
(on any relay, created before or after) gets a fresh channel and ``run`` when its
video is H.264. A VP8 publisher gets none: HLS carries H.264 untouched and this
round does not transcode (``docs/hls.md`` says why), so its status says
``hls_needs_h264`` until that session ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from livemarket.storage.base import utcnow
from livemarket.streamer.codecs import CodecChoice
from livemarket.streamer.hls.channel import PART_TARGET_S, SEGMENT_TARGET_S, HlsChannel
from livemarket.streamer.hls.store import DiskWriter, HlsStore, new_run_id

logger = logging.getLogger(__name__)

#: Why HLS is not available (the ``reason`` of the stream status and of 404s).
NOT_LIVE = "not_live"
NEEDS_H264 = "hls_needs_h264"
NO_VIDEO = "hls_needs_video"
STARTING = "starting"
DISABLED = "hls_disabled"

H264 = "video/h264"


class RelayLike(Protocol):
    """What a channel needs of its relay."""

    special_id: int

    def request_keyframe(self) -> None: ...


@dataclass(frozen=True)
class HlsStatus:
    """The ``hls`` field of a special's stream status."""

    available: bool
    reason: str | None = None

    def as_dict(self, special_id: int) -> dict[str, Any]:
        return {
            "available": self.available,
            "url": f"/hls/{special_id}/index.m3u8" if self.available else None,
            "reason": self.reason,
        }


class _Refused:
    """The session sink of a publisher HLS cannot carry: remembers why while it lasts."""

    def __init__(self, service: HlsService, special_id: int, reason: str) -> None:
        self._service = service
        self._special_id = special_id
        self.reason = reason

    def push(self, kind: str, data: bytes, timestamp: int, keyframe: bool) -> None:
        return None

    async def close(self) -> None:
        self._service._refusal_ended(self._special_id, self)


class HlsService:
    """Owns the live channels and the disk writer; ``close`` finishes both."""

    def __init__(
        self,
        root: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        segment_target_s: float = SEGMENT_TARGET_S,
        part_target_s: float = PART_TARGET_S,
    ) -> None:
        self.store = HlsStore(root)
        self.writer = DiskWriter()
        self._clock = clock
        self.segment_target_s = segment_target_s
        self.part_target_s = part_target_s
        self._channels: dict[int, HlsChannel] = {}
        self._refused: dict[int, _Refused] = {}

    def session_sink(self, relay: RelayLike, codecs: dict[str, CodecChoice]) -> Any:
        """The relay's session-sink maker: a new channel (run) for an H.264 publisher."""
        special_id = relay.special_id
        video = codecs.get("video")
        if video is None or video.mime_type.lower() != H264:
            refused = _Refused(self, special_id, NEEDS_H264 if video else NO_VIDEO)
            self._refused[special_id] = refused
            return refused
        self._refused.pop(special_id, None)
        audio = codecs.get("audio")
        started_at = self._clock()
        channel = HlsChannel(
            special_id,
            new_run_id(started_at),
            video_mime=video.mime_type,
            audio_mime=audio.mime_type if audio else None,
            started_at=started_at,
            store=self.store,
            writer=self.writer,
            want_keyframe=relay.request_keyframe,
            on_closed=self._channel_ended,
            segment_target_s=self.segment_target_s,
            part_target_s=self.part_target_s,
            now=self._clock,
        )
        self._channels[special_id] = channel
        logger.info("special %s: HLS run %s started", special_id, channel.run)
        return channel

    def _channel_ended(self, channel: HlsChannel) -> None:
        if self._channels.get(channel.special_id) is channel:
            del self._channels[channel.special_id]

    def _refusal_ended(self, special_id: int, refused: _Refused) -> None:
        if self._refused.get(special_id) is refused:
            del self._refused[special_id]

    def channel(self, special_id: int) -> HlsChannel | None:
        """The special's live channel on this server, if a publisher is live here."""
        return self._channels.get(special_id)

    def status(self, special_id: int) -> HlsStatus:
        channel = self._channels.get(special_id)
        if channel is not None:
            return HlsStatus(True) if channel.ready else HlsStatus(False, STARTING)
        refused = self._refused.get(special_id)
        return HlsStatus(False, refused.reason if refused else NOT_LIVE)

    async def close(self) -> None:
        """End every run (its listing written) and finish the disk work (shutdown)."""
        for channel in list(self._channels.values()):
            await channel.close()
        await self.writer.close()
