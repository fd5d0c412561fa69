"""LL-HLS for big audiences: latency through nginx, viewers per core, cache hits, packager cost.

Everything real, on 127.0.0.1: a throwaway ``redis-server``, a migrated SQLite file,
two ``python -m livemarket serve`` instances (one scale-out deployment), Debian's
nginx running the shipped ``docs/nginx-hls.conf`` in front of both, an aiortc
publisher sending H.264 by WHIP to instance A with its send time drawn into every
picture (``bench/relay.py``'s block code), and:

- **glass-to-glass**: headless Chromium plays the LL-HLS stream through nginx with the
  vendored hls.js (``lowLatencyMode``); on every presented frame
  (``requestVideoFrameCallback``) the page reads the drawn send time back from the
  picture; latency = presentation time − send time (one host clock). p50/p95 after a
  warm-up;
- **viewers per core**: ``--direct`` simulated LL-HLS viewers (blocking playlist
  reloads and every part, as hls.js does; ``tests/scale/hls_client.py``) on instance A
  directly, then ``--viewers`` of them through nginx; the CPU of the instances (and of
  nginx) over the window, above the no-viewer baseline, per viewer;
- **cache**: from nginx's access log, the hit ratio of part/segment requests and how
  many times the origin served each part;
- **packager**: ``bench/hls_packager.py``'s figure, CPU of the packager alone per special
  fed real H.264 at ``--kbps`` and Opus, as a fraction of one core.

Prints ONE JSON line with the targets beside the figures (glass-to-glass p95 ≤ 3 s;
hit ratio ≥ 99 % with 1,000 viewers; packaging ≤ 5 % of a core per special).

    python bench/hls.py [--viewers 1000] [--direct 100] [--seconds 10] [--latency-s 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
HLS_JS = ROOT / "livemarket" / "web" / "static" / "vendor" / "hls.light.min.js"

#: In a blank page: play ``url`` with hls.js and read the drawn send time of each frame.
PLAY_JS = """async ([url, seconds, warmup]) => {
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  document.body.append(video);
  const hls = new Hls({lowLatencyMode: true});
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  canvas.width = 640;
  canvas.height = 480;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const perRow = 640 / 16;
  const samples = [];
  const started = performance.now();
  await new Promise((resolve) => {
    const onFrame = () => {
      const now = performance.now();
      if (now - started > warmup * 1000) {
        context.drawImage(video, 0, 0, 640, 480);
        const pixels = context.getImageData(0, 0, 640, 480).data;
        let sent = 0;
        for (let index = 0; index < 48; index++) {
          const x = (index % perRow) * 16 + 8, y = Math.floor(index / perRow) * 16 + 8;
          if (pixels[(y * 640 + x) * 4] > 128) sent += 2 ** index;
        }
        samples.push(Date.now() - sent);
      }
      if (now - started < (warmup + seconds) * 1000) video.requestVideoFrameCallback(onFrame);
      else resolve();
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(resolve, (warmup + seconds + 20) * 1000);
  });
  hls.destroy();
  return samples;
}"""


# -- the publisher ----------------------------------------------------------------------


async def publish(base: str, special_id: int, key: str) -> Any:
    """An aiortc peer sending H.264 (640×480, 30 fps) with the send time drawn in."""
    import aiohttp
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack
    from aiortc.rtcconfiguration import RTCConfiguration

    from bench.relay import _backgrounds, drawn_camera
    from livemarket.streamer.ice import host_addresses
    from tests.streamer.peers import whip_signal

    await asyncio.to_thread(_backgrounds)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video = pc.addTransceiver(drawn_camera(), direction="sendonly")
    video.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    )
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    with host_addresses((HOST,)):
        await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        whip = whip_signal(http, f"{base}/whip/{special_id}", key)
        answer = await whip(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


# -- simulated viewers (in their own processes) -----------------------------------------


async def run_viewers(url: str, count: int, seconds: float, at: float) -> dict[str, Any]:
    """``count`` LL-HLS viewers of ``url`` from wall time ``at`` for ``seconds``; one tally."""
    import aiohttp

    from tests.scale.hls_client import watch_live

    await asyncio.sleep(max(0.0, at - time.time()))
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        until = time.monotonic() + seconds
        tallies = await asyncio.gather(*(watch_live(http, url, until) for _ in range(count)))
    errors = [error for tally in tallies for error in tally.errors]
    return {
        "viewers": count,
        "parts": sum(t.parts for t in tallies),
        "bytes": sum(t.part_bytes for t in tallies),
        "playlists": sum(t.playlists for t in tallies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "viewers_with_parts": sum(1 for t in tallies if t.parts),
    }


def spawn_viewers(url: str, count: int, seconds: float, at: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", "viewers", "--url", url,
         "--count", str(count), "--seconds", str(seconds), "--at", str(at)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def crowd(
    url: str, viewers: int, seconds: float, pids: dict[str, list[int]]
) -> dict[str, Any]:
    """Viewers in two processes for ``seconds``; CPU of each named process group meanwhile.

    The viewer processes start first and begin together at one wall-clock time, so
    the CPU window holds the watching only (not the processes' start-up).
    """
    half = (viewers + 1) // 2
    counts = [c for c in (half, viewers - half) if c]
    at = time.time() + 6.0
    processes = [spawn_viewers(url, count, seconds, at) for count in counts]
    await asyncio.sleep(max(0.0, at - time.time()) + 1.0)  # past the first requests' burst
    before = {name: cpu_seconds(group) for name, group in pids.items()}
    started = time.monotonic()
    await asyncio.sleep(seconds - 2.0)
    elapsed = time.monotonic() - started
    after = {name: cpu_seconds(group) for name, group in pids.items()}
    outputs = [await asyncio.to_thread(p.communicate) for p in processes]
    tallies = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    return {
        "viewers": viewers,
        "window_s": round(elapsed, 2),
        "cpu_cores": {name: round((after[name] - before[name]) / elapsed, 3) for name in pids},
        "parts_fetched": sum(t["parts"] for t in tallies),
        "viewers_with_parts": sum(t["viewers_with_parts"] for t in tallies),
        "errors": sum(t["errors"] for t in tallies),
        "error_kinds": sorted({k for t in tallies for k in t["error_kinds"]}),
    }


async def idle_cores(pids: list[int], seconds: float = 3.0) -> float:
    before = cpu_seconds(pids)
    await asyncio.sleep(seconds)
    return (cpu_seconds(pids) - before) / seconds


# -- glass to glass ---------------------------------------------------------------------


async def glass_to_glass(url: str, seconds: float, warmup: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = await browser.new_page()
            await page.add_script_tag(content=HLS_JS.read_text())
            samples = await page.evaluate(PLAY_JS, [url, seconds, warmup])
        finally:
            await browser.close()
    samples = sorted(s for s in samples if 0 <= s < 60_000)  # a misread picture is dropped
    if not samples:
        return {"frames": 0}
    return {
        "frames": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p95_ms": samples[min(len(samples) - 1, int(len(samples) * 0.95))],
        "max_ms": samples[-1],
    }


# -- the packager alone -----------------------------------------------------------------


def packager_cost(kbps: int) -> dict[str, Any]:
    """``bench/hls_packager.py``'s line: the packager alone on real H.264 + Opus."""
    script = Path(__file__).with_name("hls_packager.py")
    command = [sys.executable, str(script), "--bitrate", str(kbps * 1000), "--repeat", "3"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


# -- orchestration ----------------------------------------------------------------------


async def stream_key(database_url: str, username: str) -> str:
    from sqlalchemy import select

    from livemarket.accounts.models import User
    from livemarket.accounts.service import stream_key_of
    from livemarket.storage.engine import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        async with session_factory(engine).begin() as db:
            user = (await db.execute(select(User).where(User.username == username))).scalar_one()
            return await stream_key_of(db, user.id)
    finally:
        await engine.dispose()


async def until_playing(url: str, within_s: float = 30.0) -> None:
    import aiohttp

    from tests.scale.hls_client import read_playlist

    async with aiohttp.ClientSession() as http, asyncio.timeout(within_s):
        while True:
            async with http.get(url) as response:
                if response.status == 200 and read_playlist(await response.text()).parts:
                    return
            await asyncio.sleep(0.2)


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import secrets

    from livemarket.storage.migrate import upgrade_async
    from tests.faults.drill import seed
    from tests.faults.harness import RedisServer, start_apps
    from tests.scale.nginx_cache import CachingProxy, origin_fetches

    folder = Path(tempfile.mkdtemp(prefix="lm-bench-hls-"))
    (folder / "redis").mkdir()
    redis = RedisServer(folder / "redis")
    redis.start()
    database = f"sqlite+aiosqlite:///{folder}/livemarket.sqlite3"
    apps, proxy, publisher = [], None, None
    try:
        await upgrade_async(database)
        special_id, _ = await seed(database, stock=10)
        key = await stream_key(database, "drillhost")
        env = {
            "LIVEMARKET_DATABASE_URL": database,
            "LIVEMARKET_REDIS_URL": redis.url,
            "LIVEMARKET_SECRET_KEY": secrets.token_urlsafe(32),
            "LIVEMARKET_LOG_LEVEL": "WARNING",
            "LIVEMARKET_RECORDINGS": "false",
        }
        apps = await start_apps(2, env, folder)
        proxy = CachingProxy(folder / "nginx", [a.url.removeprefix("http://") for a in apps])
        proxy.start()
        publisher = await publish(apps[0].url, special_id, key)
        path = f"/hls/{special_id}/live.m3u8"
        await until_playing(proxy.url + path)
        await asyncio.sleep(2)  # a few segments in the window

        origin_pids = [a.pid for a in apps if a.pid is not None]
        assert proxy.pid is not None
        idle = await idle_cores(origin_pids)
        latency = await glass_to_glass(proxy.url + f"/hls/{special_id}/index.m3u8",
                                       args.latency_s, warmup=4.0)  # fmt: skip

        direct = await crowd(apps[0].url + path, args.direct, args.seconds,
                             {"origin": origin_pids})  # fmt: skip
        logged_before = len(proxy.requests())
        cached = await crowd(proxy.url + path, args.viewers, args.seconds,
                             {"origin": origin_pids, "nginx": [proxy.pid]})  # fmt: skip
        requests = proxy.requests()[logged_before:]
    finally:
        if publisher is not None:
            await publisher.close()
        if proxy is not None:
            proxy.stop()
        for app in apps:
            app.stop()
        redis.close()
        shutil.rmtree(folder, ignore_errors=True)

    media = [row for row in requests if row.path.endswith(".mp4")]
    fetched = origin_fetches(media, ".mp4")
    answers = Counter(f"{row.status} {row.cache_status}" for row in requests)
    hits = sum(1 for row in media if row.cache_status == "HIT")

    def per_core(result: dict[str, Any], name: str, baseline: float = 0.0) -> float | None:
        """Viewers one core serves (None: no measurable cost above the baseline)."""
        used = result["cpu_cores"][name] - baseline
        return round(result["viewers"] / used) if used > 0.005 else None

    return {
        "bench": "hls",
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "glass_to_glass": latency,
        "origin_idle_cores": round(idle, 3),
        "direct": {**direct, "viewers_per_origin_core": per_core(direct, "origin", idle)},
        "through_nginx": {
            **cached,
            "origin_cores_above_idle": round(cached["cpu_cores"]["origin"] - idle, 3),
            "viewers_per_origin_core": per_core(cached, "origin", idle),
            "viewers_per_nginx_core": per_core(cached, "nginx"),
            "media_requests": len(media),
            "answers": dict(answers.most_common(8)),
            "hit_ratio": round(hits / len(media), 4) if media else None,
            "origin_fetches_per_part": round(statistics.mean(fetched.values()), 3)
            if fetched
            else None,
            "max_origin_fetches_of_one_part": max(fetched.values()) if fetched else None,
        },
        "packager": packager_cost(args.kbps),
        "targets": {"glass_to_glass_p95_ms": 3000, "hit_ratio": 0.99, "core_per_special": 0.05},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="bench", choices=["bench", "viewers"])
    parser.add_argument("--url", help="viewers: the live playlist")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--direct", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="each crowd's window (>= 4)")
    parser.add_argument("--latency-s", type=float, default=15.0)
    parser.add_argument("--kbps", type=int, default=1500)
    parser.add_argument("--at", type=float, default=0.0, help="viewers: start at this wall time")
    args = parser.parse_args()
    if args.role == "viewers":
        print(json.dumps(asyncio.run(run_viewers(args.url, args.count, args.seconds, args.at))))
        return
    print(json.dumps(asyncio.run(orchestrate(args))))


if __name__ == "__main__":
    main()
