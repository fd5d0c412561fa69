"""Relay benchmark: forwarding relay against aiortc's MediaRelay (decode once, encode per viewer).

Processes, all on 127.0.0.1:
- the *server* (this script, ``--role server``): a small aiohttp app with WHIP/WHEP
  endpoints for LiveMarket's forwarding :class:`~livemarket.streamer.relay.Relay` and
  for ``aiortc.contrib.media.MediaRelay``; its CPU is what is measured;
- one *publisher* (``--role publisher``): a synthetic 640×480 30 fps camera encoded
  as VP8 by aiortc, with the send time (ms) and a frame counter drawn into the picture
  as black/white blocks;
- N *viewers* spread over ``--procs`` processes (``--role viewers``): every viewer
  counts encoded frames without decoding (the receiver's frames are tapped like the
  relay's ingest), except one probe that decodes, reads the drawn time and counter,
  and reports latency (receive time minus drawn send time, same host clock) and
  whether frames came in order.

For each N the viewers connect, warm up, then the server's CPU time is sampled over
``--duration`` seconds. Printed (one JSON line): per N, relay CPU (fraction of one
core), median delivered fps, latency p50/p95 (ms), CPU per viewer (above the
no-viewer baseline, the mean of one before and one after the steps), for forwarding
at ``--forward`` and MediaRelay at ``--reencode``, and the ratio of viewers per core
(from the median cost per viewer of each, at each viewer count both ran: 8 by
default, and from the marginal cost of one more viewer: the slope of relay CPU over
the viewer counts). Both use the same publisher picture, warm-up and duration.
Quick run:
``python bench/relay.py --forward 8 16 --reencode 1 2 --duration 4``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOST = "127.0.0.1"
WIDTH, HEIGHT, FPS = 640, 480, 30
BLOCK = 16
BITS_TIME, BITS_COUNT = 48, 24


# -- the picture code: send time and counter as blocks --------------------------------


_BACKGROUNDS: list[bytes] = []


def _backgrounds() -> list[bytes]:
    """Two seconds of camera-like luma: a gradient with fine texture, scrolling.

    Detail matters: an encoder's cost grows with it (a flat picture would flatter
    MediaRelay, whose per-viewer encoders are what is compared), a forwarder's does not.
    """
    if not _BACKGROUNDS:
        import random

        texture = random.Random(1).randbytes(WIDTH * HEIGHT + WIDTH * 2 * FPS * 2)
        for count in range(FPS * 2):
            offset = count * 2 * WIDTH // 2
            rows = bytearray(texture[offset : offset + WIDTH * HEIGHT])
            _BACKGROUNDS.append(
                bytes(
                    (x % WIDTH * 200 // WIDTH + (rows[x] >> 3)) & 0xFF
                    for x in range(WIDTH * HEIGHT)
                )
            )
    return _BACKGROUNDS


def draw_frame(count: int, sent_ms: int) -> Any:
    """A textured panning picture with the time and counter drawn as 16×16 blocks."""
    import av

    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    backgrounds = _backgrounds()
    luma = bytearray(backgrounds[count % len(backgrounds)])
    bits = [(sent_ms >> i) & 1 for i in range(BITS_TIME)]
    bits += [(count >> i) & 1 for i in range(BITS_COUNT)]
    per_row = WIDTH // BLOCK
    for index, bit in enumerate(bits):
        bx, by = (index % per_row) * BLOCK, (index // per_row) * BLOCK
        value = b"\xff" * BLOCK if bit else b"\x00" * BLOCK
        for y in range(by, by + BLOCK):
            start = y * WIDTH + bx
            luma[start : start + BLOCK] = value
    frame.planes[0].update(bytes(luma))
    for plane in frame.planes[1:]:
        plane.update(b"\x80" * plane.buffer_size)
    return frame


def read_frame(frame: Any) -> tuple[int, int]:
    """(sent_ms, count) read back from a decoded picture."""
    gray = frame.reformat(format="gray", width=WIDTH, height=HEIGHT)
    plane = gray.planes[0]
    data = bytes(plane)
    stride = plane.line_size
    per_row = WIDTH // BLOCK
    values = []
    for index in range(BITS_TIME + BITS_COUNT):
        bx, by = (index % per_row) * BLOCK, (index // per_row) * BLOCK
        values.append(1 if data[(by + BLOCK // 2) * stride + bx + BLOCK // 2] > 128 else 0)
    sent = sum(bit << i for i, bit in enumerate(values[:BITS_TIME]))
    count = sum(bit << i for i, bit in enumerate(values[BITS_TIME:]))
    return sent, count


# -- shared signalling ------------------------------------------------------------------


async def negotiate(pc: Any, url: str) -> None:
    import aiohttp
    from aiortc import RTCSessionDescription

    from livemarket.streamer.ice import host_addresses

    with host_addresses((HOST,)):
        await pc.setLocalDescription(await pc.createOffer())
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
        ) as response,
    ):
        if response.status != 201:
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")
        answer = await response.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


# -- server -----------------------------------------------------------------------------


async def run_server(port: int) -> None:
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from livemarket.streamer.ice import IceConfig, host_addresses
    from livemarket.streamer.registry import RelayRegistry

    registry = RelayRegistry(
        IceConfig(host_addresses=(HOST,)),
        capacity_per_special=10_000,
        capacity_per_server=10_000,
        pending_per_address=10_000,  # every benchmark viewer joins from one address
    )
    relay = registry.get(1)
    media_relay = MediaRelay()
    sources: dict[str, Any] = {}
    peers: set[Any] = set()

    async def answer(pc: Any, offer: str) -> str:
        with host_addresses((HOST,)):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def sdp(text: str) -> web.Response:
        return web.Response(
            status=201, text=text, content_type="application/sdp", headers={"Location": "/x"}
        )

    async def whip(request: web.Request) -> web.Response:
        return sdp((await relay.publish(await request.text(), 1))[1])

    async def whep(request: web.Request) -> web.Response:
        return sdp((await registry.play(1, await request.text()))[1])

    async def mr_whip(request: web.Request) -> web.Response:
        pc = RTCPeerConnection()
        peers.add(pc)

        @pc.on("track")
        def on_track(track: Any) -> None:
            sources[track.kind] = track

        return sdp(await answer(pc, await request.text()))

    async def mr_whep(request: web.Request) -> web.Response:
        pc = RTCPeerConnection()
        peers.add(pc)
        for kind in ("video",):
            pc.addTrack(media_relay.subscribe(sources[kind]))
        return sdp(await answer(pc, await request.text()))

    async def reset(request: web.Request) -> web.Response:
        for viewer_id in relay.viewer_sessions:
            await relay.end_viewer(viewer_id)
        for pc in list(peers):
            if pc.getSenders() and any(s.track for s in pc.getSenders()):
                await pc.close()
                peers.discard(pc)
        return web.json_response({"viewers": relay.viewer_count})

    async def figures(request: web.Request) -> web.Response:
        return web.json_response(relay.figures())

    app = web.Application()
    app.router.add_post("/whip", whip)
    app.router.add_post("/whep", whep)
    app.router.add_post("/mr/whip", mr_whip)
    app.router.add_post("/mr/whep", mr_whep)
    app.router.add_post("/reset", reset)
    app.router.add_get("/figures", figures)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    print("ready", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await registry.close()
        for pc in peers:
            await pc.close()
        await runner.cleanup()


# -- publisher --------------------------------------------------------------------------


def drawn_camera() -> Any:
    """A 30 fps video track of :func:`draw_frame` pictures stamped with their send time."""
    from aiortc import VideoStreamTrack

    class Camera(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            frame = await asyncio.to_thread(draw_frame, self.count, int(time.time() * 1000))
            frame.pts, frame.time_base = pts, time_base
            self.count += 1
            return frame

    return Camera()


async def run_publisher(url: str) -> None:
    from aiortc import RTCPeerConnection, RTCRtpSender
    from aiortc.rtcconfiguration import RTCConfiguration

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = pc.addTransceiver(drawn_camera(), direction="sendonly")
    vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    transceiver.setCodecPreferences(vp8)
    await asyncio.to_thread(_backgrounds)  # precomputed before the clock starts
    await negotiate(pc, url)
    print("ready", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await pc.close()


# -- viewers ----------------------------------------------------------------------------


async def run_viewers(url: str, count: int, probe: bool) -> None:
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import MediaStreamError
    from aiortc.rtcconfiguration import RTCConfiguration

    from livemarket.streamer.ingest import tap_receiver

    counters = [0] * count
    latencies: list[float] = []
    out_of_order = 0
    measuring = False
    peers = []
    tasks = []

    def counter(index: int) -> Callable[[Any, Any], None]:
        def on_frame(codec: Any, frame: Any) -> None:
            if measuring:
                counters[index] += 1

        return on_frame

    async def decode(track: Any) -> None:
        nonlocal out_of_order
        last = -1
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now_ms = time.time() * 1000
                sent, number = await asyncio.to_thread(read_frame, frame)
                if measuring:
                    latencies.append(now_ms - sent)
                    if number <= last:
                        out_of_order += 1
                last = number

    async def connect(index: int) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peers.append(pc)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        if probe and index == 0:
            # the probe decodes with aiortc's own decoder; its frames are counted by latency

            @pc.on("track")
            def on_track(track: Any) -> None:
                tasks.append(asyncio.ensure_future(decode(track)))

        else:
            tap_receiver(transceiver.receiver, counter(index))
        await negotiate(pc, url)

    for index in range(count):
        await connect(index)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # go
    measuring = True
    started = time.monotonic()
    if probe:
        probe_start = len(latencies)
    await loop.run_in_executor(None, sys.stdin.readline)  # stop
    measuring = False
    elapsed = time.monotonic() - started
    if probe:
        counters[0] = len(latencies) - probe_start
    result = {
        "fps": [c / elapsed for c in counters],
        "latencies_ms": latencies,
        "out_of_order": out_of_order,
    }
    print(json.dumps(result), flush=True)
    for pc in peers:
        await pc.close()
    for task in tasks:
        task.cancel()


# -- orchestration ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def spawn(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"{args[:2]} did not start: {line!r}")
    return process


def tell(process: subprocess.Popen[str], line: str = "go") -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(
    server: subprocess.Popen[str],
    base: str,
    path: str,
    viewers: int,
    procs: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """Connect ``viewers`` over ``procs`` processes, then sample server CPU and delivery."""
    groups = [viewers // procs + (1 if i < viewers % procs else 0) for i in range(procs)]
    groups = [g for g in groups if g]
    clients = [
        spawn(
            "--role",
            "viewers",
            "--url",
            base + path,
            "--count",
            str(g),
            *(["--probe"] if i == 0 else []),
        )
        for i, g in enumerate(groups)
    ]
    time.sleep(warmup)
    cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
    for client in clients:
        tell(client)
    time.sleep(duration)
    for client in clients:
        tell(client, "stop")
    cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
    fps: list[float] = []
    latencies: list[float] = []
    out_of_order = 0
    for client in clients:
        assert client.stdout is not None
        data = json.loads(client.stdout.readline())
        fps += data["fps"]
        latencies += data["latencies_ms"]
        out_of_order += data["out_of_order"]
        client.wait(timeout=30)
    import urllib.request

    stream = json.loads(urllib.request.urlopen(base + "/figures").read()).get("video", {})
    urllib.request.urlopen(urllib.request.Request(base + "/reset", method="POST")).read()
    time.sleep(1.0)
    latencies.sort()

    def pct(q: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)
            if latencies
            else None
        )

    return {
        "viewers": viewers,
        "relay_cpu": round(cpu, 3),
        "median_fps": round(statistics.median(fps), 1) if fps else 0.0,
        "latency_p50_ms": pct(0.5),
        "latency_p95_ms": pct(0.95),
        "out_of_order": out_of_order,
        # the forwarding relay's view of the publisher's stream (MediaRelay has none)
        "stream_kbps": round(stream.get("bitrate_bps", 0) / 1000),
    }


def baseline(server: subprocess.Popen[str], duration: float) -> float:
    before, wall = cpu_seconds(server.pid), time.monotonic()
    time.sleep(duration)
    return (cpu_seconds(server.pid) - before) / (time.monotonic() - wall)


def per_viewer(rows: list[dict[str, Any]], idle: float) -> None:
    for row in rows:
        row["cpu_per_viewer"] = round(max(0.0, row["relay_cpu"] - idle) / row["viewers"], 4)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://{HOST}:{port}"
    server = spawn("--role", "server", "--port", str(port))
    result: dict[str, Any] = {
        "cores": os.cpu_count(),
        "duration_s": args.duration,
        "picture": f"{WIDTH}x{HEIGHT}@{FPS} VP8",
    }
    try:
        publisher = spawn("--role", "publisher", "--url", base + "/whip")
        time.sleep(args.warmup)
        idle_before = baseline(server, args.duration)
        forward = [
            measure(server, base, "/whep", n, args.procs, args.warmup, args.duration)
            for n in args.forward
        ]
        idle = (idle_before + baseline(server, args.duration)) / 2
        per_viewer(forward, idle)
        tell(publisher, "stop")
        publisher.wait(timeout=30)

        publisher = spawn("--role", "publisher", "--url", base + "/mr/whip")
        time.sleep(args.warmup)
        idle_mr_before = baseline(server, args.duration)
        reencode = [
            measure(server, base, "/mr/whep", n, args.procs, args.warmup, args.duration)
            for n in args.reencode
        ]
        idle_mr = (idle_mr_before + baseline(server, args.duration)) / 2
        per_viewer(reencode, idle_mr)
        tell(publisher, "stop")
        publisher.wait(timeout=30)
    finally:
        tell(server, "stop")
        server.wait(timeout=60)

    def viewers_per_core(rows: list[dict[str, Any]]) -> float | None:
        costs = [r["cpu_per_viewer"] for r in rows if r["cpu_per_viewer"] > 0]
        return round(1 / statistics.median(costs), 1) if costs else None

    result.update(
        # no-viewer baselines before and after the steps (the publisher's encoder
        # ramps its bitrate up over the first seconds); their mean is subtracted
        ingest_cpu=[round(idle_before, 3), round(2 * idle - idle_before, 3)],
        forward=forward,
        mediarelay_ingest_cpu=[round(idle_mr_before, 3), round(2 * idle_mr - idle_mr_before, 3)],
        mediarelay=reencode,
        forward_viewers_per_core=viewers_per_core(forward),
        mediarelay_viewers_per_core=viewers_per_core(reencode),
    )
    fwd, mr = result["forward_viewers_per_core"], result["mediarelay_viewers_per_core"]
    result["viewers_per_core_ratio"] = round(fwd / mr, 1) if fwd and mr else None
    # The same comparison where both ran with the same number of viewers (fixed
    # per-viewer costs weigh the same on both sides there).
    by_n = {row["viewers"]: row for row in reencode}
    result["ratio_at_same_viewers"] = {
        row["viewers"]: round(by_n[row["viewers"]]["cpu_per_viewer"] / row["cpu_per_viewer"], 1)
        for row in forward
        if row["viewers"] in by_n and row["cpu_per_viewer"] > 0
    }
    # The cost of one more viewer: the slope of relay CPU over the viewer counts, which
    # does not lean on the no-viewer baseline (noisy against small differences).
    slopes = {"forward": marginal_cost(forward), "mediarelay": marginal_cost(reencode)}
    result["marginal_cpu_per_viewer"] = slopes
    fwd_slope, mr_slope = slopes["forward"], slopes["mediarelay"]
    result["marginal_ratio"] = round(mr_slope / fwd_slope, 1) if fwd_slope and mr_slope else None
    return result


def marginal_cost(rows: list[dict[str, Any]]) -> float | None:
    """Least-squares slope of relay CPU against viewers (needs two viewer counts)."""
    if len({r["viewers"] for r in rows}) < 2:
        return None
    fit = statistics.linear_regression(
        [float(r["viewers"]) for r in rows], [r["relay_cpu"] for r in rows]
    )
    return round(fit.slope, 5) if fit.slope > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--role", default="bench", choices=["bench", "server", "publisher", "viewers"]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--forward", type=int, nargs="*", default=[8, 16, 32, 64])
    parser.add_argument("--reencode", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    roles: dict[str, Callable[[], Awaitable[None]]] = {
        "server": lambda: run_server(args.port),
        "publisher": lambda: run_publisher(args.url),
        "viewers": lambda: run_viewers(args.url, args.count, args.probe),
    }
    if args.role in roles:
        profile = os.environ.get("RELAY_BENCH_PROFILE") if args.role == "server" else None
        if profile:  # development aid: where the server's CPU goes
            import cProfile

            cProfile.runctx("asyncio.run(roles[args.role]())", globals(), locals(), profile)
        else:
            asyncio.run(roles[args.role]())
        return
    print(json.dumps(orchestrate(args)))


if __name__ == "__main__":
    main()
