"""The live relays of this server, one per special, with admission control.

The cap counts viewers per special and per server (settings
``capacity_per_special`` and ``capacity_per_server``); a viewer being
answered or still connecting counts too (a pending seat, :mod:`admission`), so
concurrent joins cannot overshoot it, but only for the connect grace, and only a
few per client address. Over the cap a viewer gets ``room_full`` (HTTP 503 with
Retry-After) and chat keeps working; over its address's budget, 429.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livemarket.errors import DomainError, ErrorKind
from livemarket.streamer.admission import SeatBook, SeatLimits
from livemarket.streamer.codecs import CodecChoice
from livemarket.streamer.ice import IceConfig
from livemarket.streamer.negotiation import NEGOTIATE_TIMEOUT_S
from livemarket.streamer.recorder import Recorder
from livemarket.streamer.relay import (
    CONNECT_TIMEOUT_S,
    Relay,
    RelayLimits,
    SessionSinkFactory,
    StateListener,
)

logger = logging.getLogger(__name__)

#: Unconnected viewers one client address may have at once (setting
#: ``pending_viewers_per_address``).
PENDING_PER_ADDRESS = 4


class RelayRegistry:
    """Creates relays on demand, admits viewers, closes everything on shutdown."""

    def __init__(
        self,
        ice: IceConfig,
        *,
        capacity_per_special: int,
        capacity_per_server: int,
        pending_per_address: int = PENDING_PER_ADDRESS,
        connect_grace_s: float = CONNECT_TIMEOUT_S,
        negotiate_timeout_s: float = NEGOTIATE_TIMEOUT_S,
        recordings_dir: Path | None = None,
        limits: RelayLimits | None = None,
        on_state: StateListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ice = ice
        self.capacity_per_special = capacity_per_special
        self.capacity_per_server = capacity_per_server
        self.recordings_dir = recordings_dir
        self._limits = limits
        self._on_state = on_state
        self._connect_grace_s = connect_grace_s
        self._negotiate_timeout_s = negotiate_timeout_s
        self._clock = clock
        self.seats = SeatBook(
            SeatLimits(
                per_special=capacity_per_special,
                per_server=capacity_per_server,
                pending_per_address=pending_per_address,
                pending_s=negotiate_timeout_s + connect_grace_s,
            )
        )
        self._relays: dict[int, Relay] = {}
        self._closed = False
        #: Makers of per-publishing-session sinks, shared by every relay (HLS adds one).
        self.session_sinks: list[SessionSinkFactory] = []

    @classmethod
    def from_settings(
        cls, settings: Any, *, on_state: StateListener | None = None
    ) -> RelayRegistry:
        return cls(
            IceConfig.from_settings(settings),
            capacity_per_special=settings.capacity_per_special,
            capacity_per_server=settings.capacity_per_server,
            pending_per_address=settings.pending_viewers_per_address,
            connect_grace_s=settings.viewer_connect_grace_s,
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
                connect_timeout_s=self._connect_grace_s,
                negotiate_timeout_s=self._negotiate_timeout_s,
                session_sinks=self.session_sinks,
            )
            self._relays[special_id] = relay
        return relay

    def find(self, special_id: int) -> Relay | None:
        return self._relays.get(special_id)

    @property
    def total_viewers(self) -> int:
        """Seats taken on this server: connected viewers plus pending ones."""
        return self._connected_total() + self.seats.pending_total()

    def _connected_total(self) -> int:
        return sum(relay.connected_count for relay in self._relays.values())

    async def play(
        self, special_id: int, offer_sdp: str, address: str = "unknown"
    ) -> tuple[str, str]:
        """Admit a viewer if there is room (and ``address`` has budget), then answer.

        The seat is pending until the viewer connects or is gone; on every other
        way out (a refused offer, a timeout, a cancelled request) it is released here.
        """
        relay = self.get(special_id)
        seat = self.seats.reserve(
            special_id,
            address,
            self._clock(),
            connected=relay.connected_count,
            connected_total=self._connected_total(),
        )
        try:
            return await relay.play(offer_sdp, on_settled=lambda: self.seats.settle(seat))
        except BaseException:
            self.seats.settle(seat)
            raise

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
