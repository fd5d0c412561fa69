"""Time to first picture: a viewer opens the watch page, how long until a frame is decoded?

Everything real, on 127.0.0.1: the LiveMarket app (embedded mode, a migrated SQLite
file in a temporary folder) served by aiohttp in this process; one headless Chromium
(Debian's ``/usr/bin/chromium``, fake camera) whose first page publishes by WHIP as the
studio does (VP8 preferred, every candidate gathered, Bearer stream key); viewer pages
of the same browser open ``/specials/{id}``.

Each try: the publisher goes live afresh (a new WHIP session; "go-live" is the moment
its peer connection is connected); at each offset (1 s, 5 s and 30 s by default) one
viewer opens the watch page in a fresh context, and the time from ``goto`` to the
first decoded frame (``getVideoPlaybackQuality().totalVideoFrames > 0``, polled every
10 ms) is recorded; the viewer closes; after the last offset the publisher hangs up
(DELETE). Offsets of one try share its go-live, as viewers of one show do.

Printed, one JSON line: per offset, p50/p95/max (s) and every sample, the median time
since navigation of each step (``marks_p50``: the HTML's first byte, the player's peer
connection, offer, WHEP POST sent, answered, answer applied, connected, first track,
DOMContentLoaded), and the targets (p95 <= 1.0 s when already live, <= 1.5 s within 2 s
of go-live). Run time is about
``tries * (max offset + 3 s)``; every wait is bounded (a viewer that sees no frame in
``--timeout`` seconds counts as that timeout). Quick run:
``python bench/first_frame.py --tries 2 --offsets 1 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_app import start_live_app  # noqa: E402

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--allow-loopback-in-peer-connection",
]

#: Publishes the fake camera by WHIP; resolves with the session URL once connected.
PUBLISH_JS = """async ([specialId, key]) => {
  const media = await navigator.mediaDevices.getUserMedia(
    {video: {width: 1280, height: 720}, audio: true});
  const pc = new RTCPeerConnection({iceServers: []});
  for (const track of media.getTracks()) {
    const t = pc.addTransceiver(track, {direction: "sendonly", streams: [media]});
    if (track.kind === "video") {
      const codecs = RTCRtpSender.getCapabilities("video").codecs;
      const vp8 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
      t.setCodecPreferences(vp8.concat(codecs.filter((c) => !vp8.includes(c))));
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, 2000);
  });
  const response = await fetch("/whip/" + specialId, {
    method: "POST",
    headers: {"Content-Type": "application/sdp", Authorization: "Bearer " + key},
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) throw new Error("WHIP " + response.status);
  const session = new URL(response.headers.get("Location"), window.location.href).href;
  await pc.setRemoteDescription({type: "answer", sdp: await response.text()});
  await new Promise((resolve, reject) => {
    const check = () => {
      if (pc.connectionState === "connected") resolve();
      if (pc.connectionState === "failed") reject(new Error("ICE/DTLS failed"));
    };
    pc.onconnectionstatechange = check;
    check();
  });
  window.__publisher = {pc, media, session};
  return session;
}"""

UNPUBLISH_JS = """async () => {
  const p = window.__publisher;
  if (!p) return;
  await fetch(p.session, {method: "DELETE"});
  p.pc.close();
  p.media.getTracks().forEach((t) => t.stop());
  window.__publisher = null;
}"""

#: In each viewer page, ms since navigation: the HTML's first byte, the player's
#: peer connection, its offer, the WHEP POST sent and answered, the answer applied,
#: ICE/DTLS connected, the first track; and DOMContentLoaded.
MARKS_JS = """(() => {
  const Original = window.RTCPeerConnection;
  const marks = (window.__marks = {});
  const mark = (name) => { marks[name] = marks[name] || performance.now(); };
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    mark("pc");
    const setLocal = pc.setLocalDescription.bind(pc);
    pc.setLocalDescription = (d) => { mark("offer"); return setLocal(d); };
    const setRemote = pc.setRemoteDescription.bind(pc);
    pc.setRemoteDescription = (d) => { mark("answer"); return setRemote(d); };
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") mark("gathered");
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") mark("connected");
    });
    pc.addEventListener("track", () => mark("track"));
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  const originalFetch = window.fetch;
  window.fetch = function (url, init) {
    const whep = String(url).indexOf("/whep/") >= 0 && init && init.method === "POST";
    if (whep) mark("post");
    const result = originalFetch.apply(this, arguments);
    if (whep) result.then(() => mark("response"), () => {});
    return result;
  };
  document.addEventListener("DOMContentLoaded", () => mark("dom"));
})();"""

#: Navigation timing of the page (ms since navigation): the HTML's first byte.
NAV_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return Object.assign({html: nav ? nav.responseStart : 0}, window.__marks);
}"""

MARK_NAMES = ("html", "pc", "offer", "post", "response", "answer", "connected", "track", "dom")

FIRST_FRAME_JS = """() => {
  const video = document.getElementById("lm-player-video");
  return !!video && video.getVideoPlaybackQuality().totalVideoFrames > 0;
}"""


async def first_frame(browser: Any, url: str, timeout_s: float) -> dict[str, float]:
    """Seconds from opening ``url`` in a fresh context to its answer, connection, first frame."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.add_init_script(MARKS_JS)
        opened = time.monotonic()
        await page.goto(url)
        try:
            await page.wait_for_function(
                FIRST_FRAME_JS,
                timeout=max(0.0, timeout_s - (time.monotonic() - opened)) * 1000,
                polling=10,
            )
            frame = time.monotonic() - opened
        except Exception:  # Playwright's TimeoutError: count it as the timeout
            frame = timeout_s
        marks = await page.evaluate(NAV_JS)
        timings = {name: marks.get(name, 0.0) / 1000 for name in MARK_NAMES}
        return {"frame": frame, **timings}
    finally:
        await context.close()


def summary(tries: list[dict[str, float]]) -> dict[str, Any]:
    """First-frame p50/p95/max and samples; the median answer and connection times beside."""
    samples = [t["frame"] for t in tries]
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)

    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": pct(0.95),
        "max": round(ordered[-1], 3),
        "samples": [round(s, 3) for s in samples],
        # where the time goes: median seconds since navigation of each step
        "marks_p50": {
            name: round(statistics.median(t[name] for t in tries), 3) for name in MARK_NAMES
        },
        "answer_p50": round(statistics.median(t["answer"] for t in tries), 3),
        # the part keyframe requests decide: connected -> first decoded frame
        "after_connected_p50": round(
            statistics.median(t["frame"] - t["connected"] for t in tries), 3
        ),
        "after_connected_max": round(max(t["frame"] - t["connected"] for t in tries), 3),
        "connected_p50": round(statistics.median(t["connected"] for t in tries), 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    offsets = sorted(args.offsets)
    samples: dict[float, list[dict[str, float]]] = {offset: [] for offset in offsets}
    with tempfile.TemporaryDirectory() as folder:
        live = await start_live_app(Path(folder), "first frame")
        runner, base, special_id, key = live.runner, live.base, live.special_id, live.key
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                context = await browser.new_context(permissions=["camera", "microphone"])
                publisher = await context.new_page()
                await publisher.goto(base + "/healthz")
                watch = f"{base}/specials/{special_id}"
                for _ in range(args.tries):
                    await asyncio.wait_for(
                        publisher.evaluate(PUBLISH_JS, [special_id, key]), args.timeout * 2
                    )
                    live_at = time.monotonic()
                    for offset in offsets:
                        await asyncio.sleep(max(0.0, live_at + offset - time.monotonic()))
                        samples[offset].append(await first_frame(browser, watch, args.timeout))
                    await asyncio.wait_for(publisher.evaluate(UNPUBLISH_JS), args.timeout)
                    await asyncio.sleep(0.5)
                await browser.close()
        finally:
            await runner.cleanup()
    return {
        "bench": "first_frame",
        "tries": args.tries,
        "targets_s": {"p95_live": 1.0, "p95_within_2s_of_go_live": 1.5},
        "offsets": {f"{offset:g}s": summary(values) for offset, values in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--offsets", type=float, nargs="+", default=[1.0, 5.0, 30.0])
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
