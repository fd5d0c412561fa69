"""``livemarket serve`` as a person meets it: a real process, its exit code and its output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from livemarket.config import SettingsError, load_settings

START_TIMEOUT_S = 60


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEMARKET_")}
    env.update(LIVEMARKET_DATA_DIR=str(tmp_path), **extra)
    return env


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livemarket", "serve", *args],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_is_one_line_and_a_non_zero_exit(tmp_path: Path, taken_port: int) -> None:
    """A port in use: no banner, no traceback, one line naming the address; exit 1."""
    done = _serve(tmp_path, "--host", "127.0.0.1", "--port", str(taken_port))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("livemarket: cannot listen on")
    assert f"127.0.0.1:{taken_port}" in lines[0]


def test_an_unknown_host_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """``--host nosuchhost.invalid``: one line saying it does not resolve; exit 1."""
    done = _serve(tmp_path, "--host", "nosuchhost.invalid", "--port", "0")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]]
        and "cannot resolve host 'nosuchhost.invalid'" in done.stderr
    )


def test_an_invalid_environment_value_stops_start_up_even_when_overridden(
    tmp_path: Path,
) -> None:
    """``LIVEMARKET_PORT=abc`` with ``--port``: start-up stops, naming the variable."""
    done = _serve(tmp_path, "--port", "0", LIVEMARKET_PORT="abc")
    assert done.returncode == 2
    assert "LIVEMARKET_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_overridden_setting_is_still_validated() -> None:
    """The same rule without a process: a shadowed bad value is named, a good one is not."""
    with pytest.raises(SettingsError, match="LIVEMARKET_LOG_LEVEL"):
        load_settings({"LIVEMARKET_LOG_LEVEL": "LOUD"}, log_level="INFO")
    assert load_settings({"LIVEMARKET_PORT": "80"}, port=8081).port == 8081


def test_demo_banner_comes_last_and_libraries_stay_quiet(tmp_path: Path) -> None:
    """``serve --demo``: the demo logins and the URL are printed once the server answers,
    after every start-up log line, and no library's INFO chatter is among those lines."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "livemarket", "serve", "--demo"],
            env=_env(tmp_path, LIVEMARKET_HOST="127.0.0.1", LIVEMARKET_PORT=str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while "LiveMarket on http://" not in log_path.read_text():
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            startup = log_path.read_text()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=10) as r:
                assert r.headers["Content-Type"] == "image/vnd.microsoft.icon"
                assert r.read(4) == b"\x00\x00\x01\x00"  # an ICO header
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = startup.strip().splitlines()
    assert lines[-1] == f"LiveMarket on http://127.0.0.1:{port}/"
    assert any(line.startswith("  demo operator: demo-operator / ") for line in lines[-6:])
    chatter = [line for line in lines if '"logger": "apscheduler' in line or "aioice" in line]
    assert chatter == []
