"""What HLS for a VP8 publisher would cost: VP8 decode + libx264 encode, per media second.

HLS carries H.264 untouched; a VP8 publisher (a browser that cannot send H.264) gets
no HLS this round (``hls_needs_h264``, docs/hls.md). This measures the alternative:
CPU seconds one special would burn per second of video to transcode it with PyAV
(libvpx decode, libx264 ``veryfast``/``zerolatency`` encode, one rendition), on a
moving test picture. Prints one JSON line.

    python -m bench.hls_transcode [--width 1280 --height 720 --seconds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction

import av

FPS = 30


def _picture(width: int, height: int, number: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        row = bytes((x * 3 + number * 5 + index * 40) % 256 for x in range(plane.line_size))
        plane.update(row * (plane.buffer_size // plane.line_size))
    return frame


def _vp8_packets(width: int, height: int, count: int, bit_rate: int) -> list[av.Packet]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, FPS)
    encoder.bit_rate = bit_rate
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    packets: list[av.Packet] = []
    for number in range(count):
        frame = _picture(width, height, number)
        frame.pts = number
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


def measure(width: int, height: int, seconds: float, bit_rate: int) -> dict[str, object]:
    count = int(seconds * FPS)
    packets = _vp8_packets(width, height, count, bit_rate)
    decoder = av.CodecContext.create("vp8", "r")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, FPS)
    encoder.framerate = Fraction(FPS)
    encoder.bit_rate = bit_rate
    encoder.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(2 * FPS)}
    out_bytes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for number, packet in enumerate(packets):
        for frame in decoder.decode(packet):
            frame.pts = number
            out_bytes += sum(p.size for p in encoder.encode(frame))
    out_bytes += sum(p.size for p in encoder.encode(None))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    media_s = count / FPS
    return {
        "bench": "hls_transcode",
        "width": width,
        "height": height,
        "fps": FPS,
        "media_s": media_s,
        "bit_rate": bit_rate,
        "cpu_s_per_media_s": round(cpu / media_s, 3),
        "wall_s_per_media_s": round(wall / media_s, 3),
        "h264_kbps": round(out_bytes * 8 / media_s / 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bit-rate", type=int, default=2_000_000)
    args = parser.parse_args()
    print(json.dumps(measure(args.width, args.height, args.seconds, args.bit_rate)))


if __name__ == "__main__":
    main()
