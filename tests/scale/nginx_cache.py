"""A throwaway nginx caching proxy built from ``docs/nginx-hls.conf``, and its access log.

The shipped example configuration is what runs here: the test fills in its
placeholders (listen address, the two instances, the cache folder) and nothing else,
so the documented file is the tested one. nginx runs in the foreground as one process
(``master_process off``), which needs no user switch and caches all the same.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "nginx-hls.conf"
HOST = "127.0.0.1"


def nginx_missing() -> str | None:
    """Why the caching proxy cannot run here, or None."""
    if not Path(NGINX).exists():
        return "nginx is not installed (apt: nginx)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LoggedRequest:
    """One line of the proxy's access log (the format ``docs/nginx-hls.conf`` declares)."""

    uri: str
    status: int
    cache_status: str  # HIT, MISS, EXPIRED, UPDATING, "-" (not cacheable) ...
    upstream: str  # the instance that answered, "-" for a hit

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]


class CachingProxy:
    """nginx with the example HLS cache configuration in front of ``upstreams``."""

    def __init__(self, folder: Path, upstreams: Sequence[str], port: int | None = None) -> None:
        if len(upstreams) != 2:
            raise ValueError("the example configuration names two instances")
        self.folder = folder
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.upstreams = list(upstreams)
        self._process: subprocess.Popen[bytes] | None = None

    def render(self) -> str:
        """The example configuration with this proxy's addresses and folders filled in."""
        text = EXAMPLE_CONFIG.read_text()
        first, second = self.upstreams
        for placeholder, value in (
            ("__LISTEN__", f"{HOST}:{self.port}"),
            ("__UPSTREAM_A__", first),
            ("__UPSTREAM_B__", second),
            ("__PREFIX__", str(self.folder)),
        ):
            text = text.replace(placeholder, value)
        return text

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "nginx.conf"
        config.write_text(self.render())
        directives = "daemon off; master_process off;"
        with open(self.folder / "stderr.log", "ab") as log:
            self._process = subprocess.Popen(
                [NGINX, "-p", str(self.folder), "-c", str(config), "-e",
                 str(self.folder / "error.log"), "-g", directives],
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()}")
            with socket.socket() as sock:
                if sock.connect_ex((HOST, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within 10 s: {self.errors()}")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def errors(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.folder / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(parts)

    def requests(self) -> list[LoggedRequest]:
        """Every request logged so far (nginx writes the log line when a response ends)."""
        path = self.folder / "access.log"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split(" ")
            if len(fields) >= 4 and fields[1].isdigit():
                rows.append(LoggedRequest(fields[0], int(fields[1]), fields[2], fields[3]))
        return rows


def origin_fetches(requests: Sequence[LoggedRequest], suffix: str) -> Counter[str]:
    """How often each path ending in ``suffix`` was fetched from an instance (not a hit)."""
    return Counter(
        row.path for row in requests if row.path.endswith(suffix) and row.cache_status != "HIT"
    )


def environment_allows_nginx() -> str | None:
    """The reason to skip, unless CI asked for nginx tests (then a missing nginx fails)."""
    reason = nginx_missing()
    if reason is not None and os.environ.get("LIVEMARKET_TEST_RTMP"):
        raise RuntimeError(reason)
    return reason
