"""Simulcast benchmark: CPU per special for 1, 2 and 4 destinations, and the delay added.

A synthetic 640×360 30 fps H.264 camera (x264, 1 s GOP) and 20 ms Opus frames are
encoded once up front, then fed in real time into a :class:`SpecialSimulcast`
exactly as the relay feeds it, pushing to N stream names on a throwaway
nginx-rtmp on 127.0.0.1. For each N, after a warm-up, the CPU time of this
process (PyAV muxing, FLV fan-out) and of its FFmpeg children (one encoder per
special, one pusher per destination) is sampled over ``--duration`` seconds.
A reader pulls one destination back from nginx and reports the delay: arrival
time minus the wall time its frame was handed to the sink (p50/p95, ms).
Printed: one JSON line. Quick run: ``python bench/simulcast.py --duration 5``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livemarket.simulcast.flv import VIDEO, FlvSplitter  # noqa: E402
from livemarket.simulcast.session import SpecialSimulcast, Target  # noqa: E402
from tests.simulcast.ingest import RtmpIngest, free_port, require_tools  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30
Frame = tuple[float, str, bytes, int, bool]  # (send offset s, kind, data, pts, keyframe)


def synthetic_media(seconds: float) -> list[Frame]:
    """Encoded frames with their send offsets, audio and video interleaved by time."""
    frames: list[Frame] = []
    video = av.CodecContext.create("libx264", "w")
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.time_base = Fraction(1, 90000)
    video.framerate = Fraction(FPS)
    video.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(FPS), "bf": "0"}
    video.bit_rate = 1_500_000
    noise = os.urandom(WIDTH * HEIGHT * 2)  # texture, scrolled: camera-like bitrate
    for index in range(int(seconds * FPS)):
        shift = (index * 4) % HEIGHT * WIDTH
        picture = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        picture.planes[0].update(noise[shift : shift + WIDTH * HEIGHT])
        for plane in picture.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        picture.pts = index * 90000 // FPS
        for packet in video.encode(picture):
            offset = float(packet.pts) / 90000
            frames.append((offset, "video", bytes(packet), int(packet.pts), packet.is_keyframe))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.format, audio.layout = 48000, "s16", "stereo"
    audio.time_base = Fraction(1, 48000)
    tone = array.array(
        "h", (int(math.sin(i * 2 * math.pi * 440 / 48000) * 8000) for i in range(960) for _ in "lr")
    ).tobytes()
    for index in range(int(seconds * 50)):
        chunk = av.AudioFrame(format="s16", layout="stereo", samples=960)
        chunk.planes[0].update(tone)
        chunk.sample_rate, chunk.pts = 48000, index * 960
        for packet in audio.encode(chunk):
            frames.append(
                (float(packet.pts) / 48000, "audio", bytes(packet), int(packet.pts), True)
            )
    frames.sort(key=lambda frame: frame[0])
    return frames


def read_back(url: str, origin: list[float], delays: list[float], stop: threading.Event) -> None:
    """Pull ``url`` and note each video packet's delay behind its send time."""
    try:
        container = av.open(
            url,
            options={"fflags": "nobuffer", "rtmp_buflen": "100", "probesize": "32768"},
            timeout=10,
        )
    except av.FFmpegError:
        return
    try:
        for packet in container.demux(video=0):
            if stop.is_set():
                break
            if packet.pts is None or not origin:
                continue
            sent = origin[0] + float(packet.pts * packet.time_base)
            delays.append(time.monotonic() - sent)
    except av.FFmpegError:
        pass
    finally:
        container.close()


def cpu_seconds(process: psutil.Process, leave_out: int | None) -> dict[str, float]:
    """CPU time of this process, its encoder FFmpeg and its pushers (not the nginx stand-in)."""
    parts = {"python": sum(process.cpu_times()[:2]), "encoder": 0.0, "pushers": 0.0}
    for child in process.children(recursive=True):
        if child.pid == leave_out:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            part = "encoder" if "nut" in child.cmdline() else "pushers"
            parts[part] += sum(child.cpu_times()[:2])
    return parts


async def run_step(
    ingest: RtmpIngest, frames: list[Frame], destinations: int, warmup: float, duration: float
) -> dict[str, Any]:
    targets = [
        Target(index, f"d{index}", ingest.url(), f"bench{destinations}-{index}")
        for index in range(destinations)
    ]
    running = SpecialSimulcast(1, targets, video_codec="video/H264", on_change=lambda _: None)
    me = psutil.Process()
    nginx = ingest.process.pid if ingest.process else None
    origin: list[float] = []
    delays: list[float] = []
    encoder_delays: list[float] = []
    fan_out = running._fan_out

    def timed_fan_out(data: bytes) -> None:
        # The encoder stage alone: FLV tags leaving FFmpeg, before any pusher or ingest.
        for tag in probe_splitter.feed(data):
            if origin and tag.kind == VIDEO and not tag.is_config:
                encoder_delays.append(time.monotonic() - origin[0] - tag.timestamp_ms / 1000)
        fan_out(data)

    probe_splitter = FlvSplitter()
    running._fan_out = timed_fan_out  # type: ignore[method-assign]
    stop = threading.Event()
    reader: threading.Thread | None = None
    span = frames[-1][0]
    start = time.monotonic()
    sampled: tuple[float, dict[str, float]] | None = None
    loops = 0
    try:
        while True:
            loop_start = start + loops * span
            for offset, kind, data, pts, keyframe in frames:
                due = loop_start + offset
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not origin and kind == "video" and keyframe:
                    origin.append(time.monotonic() - (pts + loops * span * 90000) / 90000)
                clock = 90000 if kind == "video" else 48000
                running.push(kind, data, pts + int(loops * span * clock), keyframe)
                elapsed = time.monotonic() - start
                if reader is None and elapsed > 2.0:
                    url = ingest.url(targets[0].stream_key)
                    reader = threading.Thread(target=read_back, args=(url, origin, delays, stop))
                    reader.start()
                if sampled is None and elapsed > warmup:
                    delays.clear()
                    encoder_delays.clear()
                    sampled = (time.monotonic(), cpu_seconds(me, nginx))
                if sampled is not None and time.monotonic() - sampled[0] > duration:
                    now_cpu, span_s = cpu_seconds(me, nginx), time.monotonic() - sampled[0]
                    parts = {k: (now_cpu[k] - sampled[1][k]) / span_s for k in now_cpu}
                    cpu = sum(parts.values())
                    states = [p.status.state for p in running.pushers]
                    return {
                        "destinations": destinations,
                        "cpu_cores": round(cpu, 3),
                        "cpu_cores_by_part": {k: round(v, 3) for k, v in parts.items()},
                        "delay_ms_p50": round(statistics.median(delays) * 1000) if delays else None,
                        "delay_ms_p95": round(sorted(delays)[int(len(delays) * 0.95)] * 1000)
                        if delays
                        else None,
                        "encoder_delay_ms_p50": round(statistics.median(encoder_delays) * 1000)
                        if encoder_delays
                        else None,
                        "states": states,
                        "dropped": running.status()["frames_dropped"],
                    }
            loops += 1
    finally:
        stop.set()
        await running.stop()
        if reader is not None:
            reader.join(timeout=10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    require_tools()
    frames = synthetic_media(6.0)
    with tempfile.TemporaryDirectory() as directory:
        ingest = RtmpIngest(Path(directory), free_port())
        await ingest.start()
        try:
            steps = [
                await run_step(ingest, frames, count, args.warmup, args.duration)
                for count in args.counts
            ]
        finally:
            await ingest.stop()
    video_bits = sum(len(f[2]) for f in frames if f[1] == "video") * 8 / frames[-1][0]
    print(
        json.dumps(
            {
                "bench": "simulcast",
                "video": f"{WIDTH}x{HEIGHT} {FPS} fps H.264 ~{video_bits / 1e6:.1f} Mbit/s",
                "cpu_count": psutil.cpu_count(),
                "steps": steps,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
