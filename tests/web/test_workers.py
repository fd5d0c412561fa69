"""``serve --workers N``: worker addresses and settings, and real worker processes.

The process tests start ``python -m livemarket serve --workers 2 --port 0`` on
PostgreSQL and Redis (the shared port and each worker's own port are then
picked by the kernel and printed), and check that the workers answer, share
the realtime bus and the relay directory, and stop together.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.config import SettingsError, load_settings
from livemarket.storage.engine import engine_for, session_factory
from livemarket.web.cli import main
from livemarket.web.workers import (
    ListenError,
    Worker,
    bind_listeners,
    close_listeners,
    requested_worker_port,
    worker_instance_url,
    worker_settings,
)
from tests.conftest import PASSWORD, forget_redis_keys
from tests.fakes import add_special
from tests.streamer.peers import start_publisher, start_viewer
from tests.web.realtime.conftest import Peer

REDIS = "redis://127.0.0.1:6379/0"  # never contacted by the pure tests
#: Bounds for a worker group to start (spawned interpreters import the app) and to stop.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0
SDP = {"Content-Type": "application/sdp"}

# --- addresses and settings (no processes) ---------------------------------------------


def test_each_worker_gets_its_own_port_after_the_shared_one() -> None:
    """Worker i listens on worker_base_port + i, else port + 1 + i; any free port on port 0."""
    assert requested_worker_port(load_settings({}, port=8080), 0) == 8081
    assert requested_worker_port(load_settings({}, port=8080), 3) == 8084
    assert requested_worker_port(load_settings({}, port=8080, worker_base_port=9000), 2) == 9002
    assert requested_worker_port(load_settings({}, port=0), 1) == 0


def test_instance_url_is_the_workers_own_address_or_the_template_filled_in() -> None:
    """Without instance_url it is http://host:own-port; {worker} and {port} are filled in."""
    assert worker_instance_url(load_settings({}), 1, 8082) == "http://127.0.0.1:8082"
    assert worker_instance_url(load_settings({}, host="::1"), 0, 8081) == "http://[::1]:8081"
    template = load_settings(
        {}, workers=2, redis_url=REDIS, instance_url="https://w{worker}.shop.example:{port}/"
    )
    assert worker_instance_url(template, 1, 9001) == "https://w1.shop.example:9001"


def test_every_worker_allows_every_workers_origin_and_the_shared_port() -> None:
    """Each worker's own instance_url; CORS origins: configured, all workers', the shared port."""
    settings = load_settings(
        {}, workers=2, redis_url=REDIS, allowed_origins=("https://shop.example",)
    )
    workers = [Worker(0, 8081, "http://127.0.0.1:8081"), Worker(1, 8082, "http://127.0.0.1:8082")]
    second = worker_settings(settings, workers, 1, 8080)
    assert second.instance_url == "http://127.0.0.1:8082"
    assert set(second.allowed_origins) == {
        "https://shop.example",
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8082",
        "http://127.0.0.1:8080",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workers": 2}, "needs LIVEMARKET_REDIS_URL"),
        ({"workers": 2, "redis_url": REDIS, "instance_url": "https://a.example"}, "{port}"),
        ({"workers": 2, "redis_url": REDIS, "host": "0.0.0.0"}, "every interface"),
        ({"instance_url": "https://a.example:{port}"}, "need workers > 1"),
        ({"workers": 65, "redis_url": REDIS}, "less than or equal to 64"),
    ],
)
def test_settings_refuse_workers_that_could_not_work(
    overrides: dict[str, object], message: str
) -> None:
    """Several workers need Redis and an address each; placeholders need several workers."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings({}, **overrides)


def test_serve_with_workers_but_no_redis_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve --workers 2`` in embedded mode stops before doing anything, naming the cause."""
    monkeypatch.setenv("LIVEMARKET_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIVEMARKET_REDIS_URL", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "more than one worker needs LIVEMARKET_REDIS_URL" in capsys.readouterr().err
    assert not (tmp_path / "livemarket.sqlite3").exists()


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuse-port"])
def test_a_taken_shared_port_is_refused_before_any_worker_starts(reuse_port: bool) -> None:
    """A port anyone listens on, even with SO_REUSEPORT (another launch), fails at once."""
    other = socket.socket()
    try:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        settings = load_settings({}, workers=2, redis_url=REDIS, port=port)
        with pytest.raises(ListenError, match=f"127.0.0.1:{port}: Address already in use"):
            bind_listeners(settings)
    finally:
        other.close()


def test_the_parent_binds_the_shared_port_once_per_worker() -> None:
    """Port 0: one SO_REUSEPORT socket per worker on one picked port, plus one of its own."""
    settings = load_settings({}, workers=3, redis_url=REDIS, port=0)
    shared_port, workers = bind_listeners(settings)
    try:
        assert [len(worker.listeners) for worker in workers] == [2, 2, 2]
        shared = {worker.listeners[0].getsockname()[1] for worker in workers}
        own = {worker.listeners[1].getsockname()[1] for worker in workers}
        assert shared == {shared_port} and len(own) == 3 and shared_port not in own
        assert [worker.instance_url for worker in workers] == [
            f"http://127.0.0.1:{worker.port}" for worker in workers
        ]
    finally:
        close_listeners(workers)


# --- real worker processes -------------------------------------------------------------


@dataclass
class Served:
    """A running ``serve --workers`` parent, its shared URL and its workers' pids and URLs."""

    process: subprocess.Popen[bytes]
    url: str
    workers: list[tuple[int, str]]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], within: float = STOP_TIMEOUT_S) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _banner(process: subprocess.Popen[bytes], count: int) -> Served:
    """Parse "LiveMarket on URL (N workers)" and one "worker i (pid P): URL" line each."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    output = b""
    while output.count(b"\n") < count + 1:  # unbuffered reads: select() sees every byte
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if not ready:
            raise TimeoutError(f"serve --workers printed only {output!r} in time")
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"serve --workers exited with {process.wait(5)}: {output!r}")
        output += chunk
    first, *lines = output.decode().splitlines()[: count + 1]
    shared = re.fullmatch(r"LiveMarket on (\S+)/ \((\d+) workers\)", first)
    assert shared is not None and int(shared[2]) == count, first
    workers = []
    for index, line in enumerate(lines):
        match = re.fullmatch(rf"worker {index} \(pid (\d+)\): (\S+)/", line)
        assert match is not None, line
        workers.append((int(match[1]), match[2]))
    return Served(process, shared[1], workers)


@pytest.fixture
def serve_env(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> Iterator[dict[str, str]]:
    """The environment of a worker group on this test's database and Redis prefix."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEMARKET_")}
    env.update(
        LIVEMARKET_DATA_DIR=str(tmp_path / "data"),
        LIVEMARKET_DATABASE_URL=postgres_url,
        LIVEMARKET_REDIS_URL=redis_url,
        LIVEMARKET_REDIS_PREFIX=redis_prefix,
        LIVEMARKET_LOG_LEVEL="WARNING",
        LIVEMARKET_ICE_HOST_ADDRESSES="127.0.0.1",
    )
    yield env
    asyncio.run(forget_redis_keys(redis_url, redis_prefix))


@pytest.fixture
def serve(serve_env: dict[str, str]) -> Iterator[Callable[..., Served]]:
    """``serve(*args)`` starts ``livemarket serve --workers 2 --port 0``; all end afterwards."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        process = subprocess.Popen(
            [sys.executable, "-m", "livemarket", "serve", "--workers", "2", "--port", "0", *args],
            env=serve_env,
            stdout=subprocess.PIPE,
        )
        try:
            served = _banner(process, 2)
        except BaseException:
            process.kill()
            process.wait(10)
            assert process.stdout is not None
            process.stdout.close()
            raise
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.send_signal(signal.SIGTERM)
            try:
                served.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait(10)
        for pid, _ in served.workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        assert served.process.stdout is not None
        served.process.stdout.close()


async def _healthy(http: aiohttp.ClientSession, url: str) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _all_healthy(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for _, url in served.workers:
            await _healthy(http, url)


async def test_workers_answer_on_their_own_ports_and_the_shared_one(
    serve: Callable[..., Served], serve_env: dict[str, str]
) -> None:
    """Both workers answer on their own ports and the shared one; SIGTERM ends all, exit 0."""
    served = serve()
    await _all_healthy(served)
    shared_port = served.url.rsplit(":", 1)[1]
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request
    answered_by = set()
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(20):
            async with http.get(served.url + "/healthz") as response:
                assert response.status == 200
                health = await response.json()
                assert health["redis"] == "ok"
                answered_by.add(health["instance"])
    # The kernel spreads connections over both (each missing one in 20: odds 2 in 2^20).
    assert answered_by == {url for _, url in served.workers}

    again = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "livemarket", "serve", "--workers", "2", "--port", shared_port],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert again.returncode == 1
    assert f"127.0.0.1:{shared_port}: Address already in use" in again.stderr

    served.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S) == 0
    assert await asyncio.to_thread(_wait_gone, [pid for pid, _ in served.workers]) == []


async def test_a_worker_that_dies_stops_the_others(serve: Callable[..., Served]) -> None:
    """Killing one worker makes the parent stop the other and exit non-zero."""
    served = serve()
    await _all_healthy(served)
    (first, _), (second, _) = served.workers
    os.kill(first, signal.SIGKILL)
    assert await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S) != 0
    assert await asyncio.to_thread(_wait_gone, [second]) == []


async def test_workers_stop_when_the_parent_is_killed(serve: Callable[..., Served]) -> None:
    """A parent killed outright (SIGKILL, no chance to clean up) leaves no worker behind."""
    served = serve()
    await _all_healthy(served)
    served.process.kill()
    await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S)
    assert await asyncio.to_thread(_wait_gone, [pid for pid, _ in served.workers]) == []


def _whip_on(http: aiohttp.ClientSession, url: str, key: str):  # type: ignore[no-untyped-def]
    async def signal(offer: str) -> str:
        headers = {**SDP, "Authorization": f"Bearer {key}"}
        async with http.post(url, data=offer, headers=headers) as response:
            assert response.status == 201, await response.text()
            signal.location = response.headers["Location"]  # type: ignore[attr-defined]
            return await response.text()

    return signal


async def test_workers_share_chat_and_redirect_whep_to_the_publishing_worker(
    serve: Callable[..., Served], postgres_url: str
) -> None:
    """Chat crosses workers; a stream published on worker 0 plays via worker 1's 307."""
    served = serve()
    await _all_healthy(served)
    (_, first), (_, second) = served.workers
    engine = engine_for(load_settings({}, database_url=postgres_url))
    try:
        sessions = session_factory(engine)
        host = await create_user(sessions, username="host", password=PASSWORD, role="host")
        special_id = await add_special(sessions, host.id)
        async with sessions.begin() as db:
            key = await stream_key_of(db, host.id)
    finally:
        await engine.dispose()

    alice, bob = Peer(first), Peer(second)
    publisher = viewer = None
    try:
        await alice.open_session()
        await bob.open_session()
        on_first = await alice.connect(special_id)
        on_second = await bob.connect(special_id)
        await on_first.next("hello")
        await on_second.next("hello")
        await on_first.send({"type": "chat", "text": "from worker 0"})
        assert (await on_second.next("chat"))["text"] == "from worker 0"

        whip = _whip_on(alice.http, f"{first}/whip/{special_id}", key)
        publisher = await start_publisher(whip)
        assert whip.location.startswith(f"{first}/whip/{special_id}/")
        async with bob.http.post(
            f"{second}/whep/{special_id}", data="v=0\r\n", headers=SDP, allow_redirects=False
        ) as redirected:
            assert redirected.status == 307
            assert redirected.headers["Location"] == f"{first}/whep/{special_id}"

        async def whep(offer: str) -> str:  # follows the 307, as a browser's fetch does
            async with bob.http.post(
                f"{second}/whep/{special_id}", data=offer, headers=SDP
            ) as response:
                assert response.status == 201, await response.text()
                assert response.headers["Location"].startswith(f"{first}/whep/{special_id}/")
                return await response.text()

        viewer = await start_viewer(whep)
        await viewer.wait_frames(5)
    finally:
        for peer in (viewer, publisher):
            if peer is not None:
                await peer.close()
        await alice.close()
        await bob.close()
