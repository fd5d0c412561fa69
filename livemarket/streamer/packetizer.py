"""Cut an encoded frame into RTP payloads once, for every viewer.

aiortc's encoders know each codec's payload format (VP8 payload descriptor,
H.264 FU-A/STAP-A, Opus as is); their ``pack`` takes a pre-encoded
``av.Packet`` and encodes nothing. One encoder object per stream packetizes
each frame a single time; the payloads are shared, read-only, by all viewers.
"""

from __future__ import annotations

from fractions import Fraction

import av
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters


class Packetizer:
    """RTP payloads of one stream's frames (``timestamp`` in clock-rate units)."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.mime_type = codec.mimeType
        self._time_base = Fraction(1, codec.clockRate)
        # Audio codecs here are one frame, one payload; skip building their encoder
        # (Opus's opens a libopus context).
        self._encoder: Encoder | None = (
            get_encoder(codec) if codec.mimeType.lower().startswith("video/") else None
        )

    def packetize(self, data: bytes, timestamp: int) -> list[bytes]:
        if self._encoder is None:
            return [data]
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = self._time_base
        payloads, _ = self._encoder.pack(packet)
        return payloads
