"""Real encoded media for the HLS tests: H.264 access units (libx264) and Opus packets.

Encoded once per call with PyAV, as a publisher's encoder would produce them:
H.264 in Annex B (start codes, SPS/PPS before each IDR), no B-frames (WebRTC
encoders make none), timestamps at 90 kHz; Opus 20 ms packets at 48 kHz.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection
from dataclasses import dataclass
from fractions import Fraction

import av

from livemarket.streamer.codecs import is_h264_keyframe

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000


@dataclass(frozen=True)
class Frame:
    kind: str
    data: bytes
    timestamp: int
    keyframe: bool

    @property
    def seconds(self) -> float:
        return self.timestamp / (VIDEO_CLOCK if self.kind == "video" else AUDIO_CLOCK)


def h264_frames(
    count: int,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    gop: int = 30,
    profile: str = "baseline",
    bit_rate: int | None = None,
    noise: bool = False,
    keyframes_at: Collection[int] = (),
) -> list[Frame]:
    """``count`` access units, a keyframe every ``gop`` frames (first one included).

    ``keyframes_at`` forces IDR pictures at those frame numbers too, as a keyframe
    request would.
    """
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = Fraction(1, VIDEO_CLOCK)
    codec.framerate = Fraction(fps, 1)
    options = {
        "profile": profile,
        "preset": "ultrafast" if profile == "baseline" else "veryfast",
        "tune": "zerolatency",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
        "bf": "0",
        "forced-idr": "1",
    }
    if bit_rate is not None:
        codec.bit_rate = bit_rate
    codec.options = options
    frames: list[Frame] = []
    step = VIDEO_CLOCK // fps
    for index in range(count):
        picture = av.VideoFrame(width, height, "yuv420p")
        for number, plane in enumerate(picture.planes):
            plane.update(_picture_plane(plane.buffer_size, index, number, noise))
        picture.pts = index * step
        picture.time_base = codec.time_base
        if index % gop == 0 or index in keyframes_at:
            picture.pict_type = av.video.frame.PictureType.I
        frames += _video_packets(codec.encode(picture))
    frames += _video_packets(codec.encode(None))
    return frames


def _picture_plane(size: int, index: int, number: int, noise: bool) -> bytes:
    if noise:
        import random

        return random.Random(index * 3 + number).randbytes(size)
    # A moving gradient: cheap to make, real motion for the encoder.
    row = bytes((x + index * 4 + number * 60) % 256 for x in range(256))
    return (row * (size // 256 + 1))[:size]


def _video_packets(packets: list[av.Packet]) -> list[Frame]:
    """Keyframes as the relay flags them: access units holding an IDR slice."""
    return [
        Frame("video", bytes(packet), int(packet.pts or 0), is_h264_keyframe(bytes(packet)))
        for packet in packets
    ]


def opus_packets(seconds: float) -> list[Frame]:
    """20 ms Opus packets of a stereo 440 Hz tone."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_CLOCK
    codec.layout = "stereo"
    codec.format = "s16"
    codec.time_base = Fraction(1, AUDIO_CLOCK)
    codec.bit_rate = 64000
    frames: list[Frame] = []
    samples = 960
    for index in range(round(seconds * AUDIO_CLOCK / samples)):
        values = []
        for n in range(samples):
            value = int(8000 * math.sin(2 * math.pi * 440 * (index * samples + n) / AUDIO_CLOCK))
            values += (value, value)
        chunk = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        chunk.planes[0].update(struct.pack(f"<{2 * samples}h", *values))
        chunk.sample_rate = AUDIO_CLOCK
        chunk.pts = index * samples
        chunk.time_base = codec.time_base
        frames += _audio_packets(codec.encode(chunk))
    frames += _audio_packets(codec.encode(None))
    # The encoder's first packet starts before 0 (its pre-skip); the relay's timeline starts at 0.
    first = frames[0].timestamp
    return [Frame("audio", f.data, f.timestamp - first, True) for f in frames]


def _audio_packets(packets: list[av.Packet]) -> list[Frame]:
    return [Frame("audio", bytes(p), int(p.pts or 0), True) for p in packets if p.pts is not None]


def interleave(*streams: list[Frame], audio_lag_s: float = 0.03) -> list[Frame]:
    """Frames in arrival order: by time, audio arriving a little after its video."""
    return sorted(
        (frame for stream in streams for frame in stream),
        key=lambda f: f.seconds + (audio_lag_s if f.kind == "audio" else 0.0),
    )
