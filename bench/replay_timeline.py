"""Cost of a replay's timeline for a long show: playlist → clock, markers, chat offsets.

A 4-hour show in 2-second segments over three publishing runs (7,200 segments), 120 deals,
600 recorded pins (each written twice, as two instances would), 20,000 chat messages of
which 2,000 are host or pinned. Timed with the process CPU clock, ``--repeat`` times:
parsing the VOD playlist, building the markers, and the offset of every chat message (what
``GET …/replay`` and all pages of ``…/replay/chat`` compute). Printed, one JSON line:
median and best milliseconds of each step and the marker count. Quick run:
``python bench/replay_timeline.py --repeat 3``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livemarket.replay.timeline import (  # noqa: E402
    ChatLine,
    DealRun,
    Pin,
    markers,
    parse_vod_playlist,
)

T0 = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)


def playlist(segments: int, runs: int) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:2", "#EXT-X-PLAYLIST-TYPE:VOD"]
    per_run = segments // runs
    for run in range(runs):
        if run:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f'#EXT-X-MAP:URI="r{run}/init.mp4"')
        start = T0 + timedelta(seconds=run * (2 * per_run + 30))  # 30 s lost between runs
        for msn in range(per_run):
            stamp = (start + timedelta(seconds=2 * msn)).isoformat(timespec="milliseconds")
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}", "#EXTINF:2.000,", f"r{run}/{msn}.mp4"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    show_s = 4 * 3600
    text = playlist(show_s // 2, 3)
    deals = [
        DealRun(
            i,
            i % 40,
            20,
            9000,
            T0 + timedelta(seconds=i * 110),
            T0 + timedelta(seconds=i * 110 + 90),
        )
        for i in range(120)
    ]
    pins = [
        Pin(T0 + timedelta(seconds=i * 24 + k * 0.003), i % 40) for i in range(600) for k in (0, 1)
    ]
    chat = [
        ChatLine(
            i,
            T0 + timedelta(seconds=i * 0.72),
            f"n{i}",
            "host" if i % 10 == 0 else "viewer",
            "hi",
            False,
        )
        for i in range(20_000)
    ]
    candidates = [line for line in chat if line.role == "host"]
    parse_ms, markers_ms, chat_ms = [], [], []
    count = 0
    for _ in range(args.repeat):
        started = time.process_time()
        clock = parse_vod_playlist(text)
        parse_ms.append((time.process_time() - started) * 1000)
        assert clock is not None
        started = time.process_time()
        count = len(markers(clock, deals=deals, pins=pins, chat=candidates))
        markers_ms.append((time.process_time() - started) * 1000)
        started = time.process_time()
        for line in chat:
            clock.offset(line.at)
        chat_ms.append((time.process_time() - started) * 1000)
    print(
        json.dumps(
            {
                "bench": "replay_timeline",
                "segments": show_s // 2,
                "chat_messages": len(chat),
                "markers": count,
                "parse_ms_median": round(statistics.median(parse_ms), 2),
                "parse_ms_best": round(min(parse_ms), 2),
                "markers_ms_median": round(statistics.median(markers_ms), 2),
                "chat_offsets_ms_median": round(statistics.median(chat_ms), 2),
                "repeat": args.repeat,
            }
        )
    )


if __name__ == "__main__":
    main()
