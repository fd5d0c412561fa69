"""CPU cost of LL-HLS packaging: seconds of CPU per second of media for one special.

A real stream is encoded first (not timed): H.264 with libx264 at ``--bitrate``
(default 1.5 Mbit/s, 640x360, 30 fps, a keyframe every 2 s) and Opus packets of
20 ms (50/s), interleaved in arrival order. Then the whole stream is pushed through
a ``Packager`` ``--repeat`` times, timing ``push`` + ``flush`` with the process CPU
clock. Printed, one JSON line: median and best CPU seconds per media second (target
<= 0.05, i.e. one core packages 20 specials), the stream's real bitrate, parts and
segments made. Quick run: ``python bench/hls_packager.py --seconds 5 --repeat 3``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livemarket.streamer.hls import Packager, Part, Segment  # noqa: E402
from tests.streamer.hls.media import h264_frames, interleave, opus_packets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bitrate", type=int, default=1_500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    fps = 30
    video = h264_frames(
        round(args.seconds * fps),
        width=640,
        height=360,
        fps=fps,
        gop=2 * fps,
        bit_rate=args.bitrate,
        noise=True,
    )
    audio = opus_packets(args.seconds)
    frames = [(f.kind, f.data, f.timestamp, f.keyframe) for f in interleave(video, audio)]
    media_s = len(video) / fps
    video_bits = 8 * sum(len(f.data) for f in video)

    costs = []
    parts: list[Part] = []
    segments: list[Segment] = []
    for _ in range(args.repeat):
        parts.clear()
        segments.clear()
        packager = Packager(
            video_mime="video/H264",
            audio_mime="audio/opus",
            started_at=datetime.now(UTC),
            on_part=parts.append,
            on_segment=segments.append,
            want_keyframe=lambda: None,
        )
        push = packager.push
        began = time.process_time()
        for kind, data, timestamp, keyframe in frames:
            push(kind, data, timestamp, keyframe)
        packager.flush()
        costs.append((time.process_time() - began) / media_s)

    print(
        json.dumps(
            {
                "bench": "hls_packager",
                "cpu_s_per_media_s_median": round(statistics.median(costs), 5),
                "cpu_s_per_media_s_best": round(min(costs), 5),
                "target": 0.05,
                "media_s": round(media_s, 3),
                "video_kbit_s": round(video_bits / media_s / 1000),
                "video_frames": len(video),
                "audio_packets": len(audio),
                "parts": len(parts),
                "segments": len(segments),
                "repeat": args.repeat,
            }
        )
    )


if __name__ == "__main__":
    main()
