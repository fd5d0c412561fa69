"""A throwaway nginx-rtmp standing in for a partner platform, and ffprobe to read it back."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def require_tools() -> None:
    """Skip (with the reason) where the ingest stand-in or FFmpeg is not installed.

    CI sets ``LIVEMARKET_TEST_RTMP=1``: there a missing tool fails the test instead.
    """
    reason = None
    if not Path(NGINX).exists() or not RTMP_MODULE.exists():
        reason = "nginx with libnginx-mod-rtmp is not installed (apt: nginx libnginx-mod-rtmp)"
    elif not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        reason = "ffmpeg/ffprobe are not installed (apt: ffmpeg)"
    if reason is not None:
        if os.environ.get("LIVEMARKET_TEST_RTMP"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtmpIngest:
    """nginx in the foreground with its own config in ``directory``; start/stop at will."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.process: asyncio.subprocess.Process | None = None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "nginx.conf").write_text(
            f"load_module {RTMP_MODULE};\n"
            "daemon off;\nmaster_process off;\n"
            f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log;\n"
            "events { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; "
            "application live { live on; record off; } } }\n"
        )

    def url(self, key: str = "") -> str:
        return f"rtmp://127.0.0.1:{self.port}/live" + (f"/{key}" if key else "")

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"),
            "-e", str(self.directory / "error.log"),
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                return

    async def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            await self.process.wait()
            self.process = None


async def probe(url: str, seconds: float = 2.0) -> dict[str, Any]:
    """ffprobe's streams and packets of ``seconds`` of the live stream at ``url``."""
    process = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-rw_timeout", "8000000",
        "-read_intervals", f"%+{seconds}",
        "-show_entries", "stream=codec_name,codec_type,width,height:packet=stream_index,pts_time",
        "-of", "json", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[RtmpIngest]:
    """A running nginx-rtmp on a free loopback port (skips when not installed)."""
    require_tools()
    server = RtmpIngest(tmp_path / "nginx", free_port())
    await server.start()
    yield server
    await server.stop()
