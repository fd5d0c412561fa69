"""The live relays of this server, one per special, with admission control.

The cap counts viewers per special and per server (settings
``capacity_per_special`` and ``capacity_per_server``); a viewer being
answered counts too, so concurrent joins cannot overshoot it. Over the cap a
viewer gets ``room_full`` (HTTP 503 with Retry-After) and chat keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livemarket.errors import DomainError, ErrorKind
from livemarket.streamer.codecs import CodecChoice
from livemarket.streamer.ice import IceConfig
from livemarket.streamer.recorder import Recorder
from livemarket.streamer.relay import Relay, RelayLimits, StateListener

logger = logging.getLogger(__name__)

#: Seconds a refused viewer is told to wait before trying again.
RETRY_AFTER_S = 10


class RoomFull(DomainError):
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str) -> None:
        super().__init__("room_full", message, retry_after=RETRY_AFTER_S)


class RelayRegistry:
    """Creates relays on demand, admits viewers, closes everything on shutdown."""

    def __init__(
        self,
        ice: IceConfig,
        *,
        capacity_per_special: int,
        capacity_per_server: int,
        recordings_dir: Path | None = None,
        limits: RelayLimits | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        self.ice = ice
        self.capacity_per_special = capacity_per_special
        self.capacity_per_server = capacity_per_server
        self.recordings_dir = recordings_dir
        self._limits = limits
        self._on_state = on_state
        self._relays: dict[int, Relay] = {}
        self._joining: dict[int, int] = {}
        self._closed = False

    @classmethod
    def from_settings(
        cls, settings: Any, *, on_state: StateListener | None = None
    ) -> RelayRegistry:
        return cls(
            IceConfig.from_settings(settings),
            capacity_per_special=settings.capacity_per_special,
            capacity_per_server=settings.capacity_per_server,
            recordings_dir=settings.data_dir / "recordings" if settings.recordings else None,
            on_state=on_state,
        )

    def get(self, special_id: int) -> Relay:
        """The special's relay, created when first needed (never after ``close``)."""
        relay = self._relays.get(special_id)
        if relay is None:
            if self._closed:
                # A request still in flight at shutdown must not open a relay that
                # nothing would close (its peer connections' sockets would leak).
                raise DomainError(
                    "relay_closed", "the server is shutting down", kind=ErrorKind.UNAVAILABLE
                )
            relay = Relay(
                special_id,
                self.ice,
                limits=self._limits,
                recorder_factory=self._recorder_factory(),
                on_state=self._on_state,
            )
            self._relays[special_id] = relay
        return relay

    def find(self, special_id: int) -> Relay | None:
        return self._relays.get(special_id)

    @property
    def total_viewers(self) -> int:
        return sum(relay.viewer_count for relay in self._relays.values()) + sum(
            self._joining.values()
        )

    async def play(self, special_id: int, offer_sdp: str) -> tuple[str, str]:
        """Admit a viewer if there is room, then answer their offer."""
        relay = self.get(special_id)
        joining = self._joining.get(special_id, 0)
        if relay.viewer_count + joining >= self.capacity_per_special:
            raise RoomFull("this live special is full; please try again shortly")
        if self.total_viewers >= self.capacity_per_server:
            raise RoomFull("the server is full; please try again shortly")
        self._joining[special_id] = joining + 1
        try:
            return await relay.play(offer_sdp)
        finally:
            self._joining[special_id] -= 1
            if not self._joining[special_id]:
                del self._joining[special_id]

    def _recorder_factory(self) -> Callable[[int, dict[str, CodecChoice]], Recorder] | None:
        directory = self.recordings_dir
        if directory is None:
            return None

        def start(special_id: int, codecs: dict[str, CodecChoice]) -> Recorder:
            video = codecs.get("video")
            audio = codecs.get("audio")
            return Recorder(
                directory,
                special_id,
                video_mime=video.mime_type if video else None,
                audio_mime=audio.mime_type if audio else None,
            )

        return start

    def figures(self) -> dict[int, dict[str, Any]]:
        """Figures of every relay, by special id (for metrics and the console)."""
        return {special_id: relay.figures() for special_id, relay in self._relays.items()}

    async def close(self) -> None:
        """Close every relay (server shutdown)."""
        self._closed = True
        relays, self._relays = list(self._relays.values()), {}
        for relay in relays:
            try:
                await relay.close()
            except Exception:
                logger.exception("closing the relay of special %s failed", relay.special_id)
