"""Opus facts for packaging, with no I/O: the ``dOps`` record and packet durations.

Opus in ISO BMFF ("Encapsulation of Opus in ISO Base Media File Format", §4.3.2)
needs an ``Opus`` sample entry holding a ``dOps`` box; unlike Ogg's OpusHead its
fields are big-endian. A packet's duration follows from its TOC byte (RFC 6716
§3.1), which gives the last sample of a part its length before the next packet.
"""

from __future__ import annotations

import struct

#: Opus always decodes at 48 kHz; its timestamps (RTP and MP4) count 48 kHz samples.
SAMPLE_RATE = 48000

# Frame length in 48 kHz samples per TOC configuration (RFC 6716 §3.1, table 2).
_FRAME_SAMPLES = (
    [480, 960, 1920, 2880] * 3  # SILK-only, 10/20/40/60 ms
    + [480, 960] * 2  # hybrid, 10/20 ms
    + [120, 240, 480, 960] * 4  # CELT-only, 2.5/5/10/20 ms
)


def dops(channels: int = 2, pre_skip: int = 0, input_sample_rate: int = SAMPLE_RATE) -> bytes:
    """The ``dOps`` box payload (OpusSpecificBox), channel mapping family 0 (mono/stereo).

    ``pre_skip`` is 0 by default: a live WebRTC stream joined mid-way has no
    encoder start-up samples to drop.
    """
    if channels not in (1, 2):
        raise ValueError("channel mapping family 0 carries 1 or 2 channels")
    return struct.pack(">BBHIhB", 0, channels, pre_skip, input_sample_rate, 0, 0)


def packet_samples(packet: bytes) -> int:
    """Duration of an Opus packet in 48 kHz samples, from its TOC (0 for an empty packet)."""
    if not packet:
        return 0
    toc = packet[0]
    frame = _FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        return frame
    if code in (1, 2):
        return 2 * frame
    if len(packet) < 2:
        return frame
    return (packet[1] & 0x3F) * frame
