""" "Send 5 seconds of a test card": an operator checks a destination before the show.

FFmpeg draws a test pattern and a tone, encodes them as the studio would (H.264 +
AAC) and publishes them to the destination in real time. The answer is whether
the ingest took them, and if not FFmpeg's last error line (without the target).
"""

from __future__ import annotations

import asyncio
import contextlib

from livemarket.simulcast.rules import redact

TEST_SECONDS = 5
#: The whole attempt (connect, 5 s of media, close) never takes longer than this.
TIMEOUT_S = 25.0


def test_card_args(target: str, seconds: int = TEST_SECONDS) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-b:a", "128k",
        "-f", "flv", target,
    ]  # fmt: skip


async def send_test_card(target: str, *, timeout_s: float = TIMEOUT_S) -> str | None:
    """Publish the test card to ``target``; ``None`` when it went through, else why not."""
    process = await asyncio.create_subprocess_exec(
        *test_card_args(target),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            _, stderr = await process.communicate()
    except TimeoutError:
        return "the ingest did not take the test card in time"
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
    if process.returncode == 0:
        return None
    lines = stderr.decode(errors="replace").strip().splitlines()
    reason = lines[-1] if lines else f"ffmpeg exited with status {process.returncode}"
    return redact(reason.replace(target, "the ingest"), [target.rsplit("/", 1)[-1]])
