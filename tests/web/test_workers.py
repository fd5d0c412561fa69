"""``serve --workers N``: worker addresses and settings, and real worker processes.

The process tests start ``python -m livemarket serve --workers 2 --port 0`` on
PostgreSQL and Redis (the shared port and each worker's own port are then
picked by the kernel and printed), and check that the workers answer, share
the realtime bus and the relay directory, stop together, and that a killed worker is replaced.
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
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from livemarket.accounts.service import create_user, stream_key_of
from livemarket.checkout.models import FlashDeal, Product
from livemarket.config import SettingsError, load_settings
from livemarket.scheduler.models import PlannedDeal, Special
from livemarket.storage.base import utcnow
from livemarket.storage.engine import engine_for, session_factory
from livemarket.streamer.directory import CLAIM_TTL_S as RELAY_TTL_S
from livemarket.streamer.directory import OWNER_LEASE_S
from livemarket.web.cli import main
from livemarket.web.restarts import RESTART_LIMIT, RESTART_WINDOW_S
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
    stderr: Path
    pending: bytes = b""  # stdout read but not yet parsed


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


def _read_line(process: subprocess.Popen[bytes], pending: bytes) -> tuple[str, bytes]:
    """The next line the parent prints (within START_TIMEOUT_S), and what follows it."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"\n" not in pending:  # unbuffered reads: select() sees every byte
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if not ready:
            raise TimeoutError(f"serve --workers printed only {pending!r} in time")
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            raise EOFError(f"serve --workers exited with {process.wait(5)}: {pending!r}")
        pending += chunk
    line, pending = pending.split(b"\n", 1)
    return line.decode(), pending


def _worker_line(line: str, index: int) -> int:
    """The pid in "worker i (pid P): URL/"."""
    match = re.fullmatch(rf"worker {index} \(pid (\d+)\): (\S+)/", line)
    assert match is not None, line
    return int(match[1])


def _banner(process: subprocess.Popen[bytes], count: int, stderr: Path) -> Served:
    """Parse "LiveMarket on URL (N workers)" and one "worker i (pid P): URL" line each."""
    first, pending = _read_line(process, b"")
    shared = re.fullmatch(r"LiveMarket on (\S+)/ \((\d+) workers\)", first)
    assert shared is not None and int(shared[2]) == count, first
    workers = []
    for index in range(count):
        line, pending = _read_line(process, pending)
        workers.append((_worker_line(line, index), line.split(": ", 1)[1].rstrip("/")))
    return Served(process, shared[1], workers, stderr, pending)


def restarted(served: Served, index: int) -> int:
    """The pid of worker ``index``'s replacement, from the line the parent prints for it."""
    line, served.pending = _read_line(served.process, served.pending)
    return _worker_line(line, index)


def serve_environment(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> dict[str, str]:
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
    return env


def start_serve(env: dict[str, str], stderr: Path, *args: str) -> Served:
    """Start ``livemarket serve --workers 2 --port 0 *args``; back once its banner is out."""
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "livemarket", "serve", "--workers", "2", "--port", "0", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        return _banner(process, 2, stderr)
    except BaseException:
        process.kill()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()
        raise


def stop_serve(served: Served) -> None:
    """SIGTERM the parent (SIGKILL if it hangs) and make sure no first worker is left."""
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


@pytest.fixture
def serve_env(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> Iterator[dict[str, str]]:
    """The environment of a worker group on this test's database and Redis prefix."""
    yield serve_environment(tmp_path, postgres_url, redis_url, redis_prefix)
    asyncio.run(forget_redis_keys(redis_url, redis_prefix))


@pytest.fixture
def serve(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(*args)`` starts ``livemarket serve --workers 2 --port 0``; all end afterwards."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = start_serve(serve_env, tmp_path / f"serve-{len(started)}.stderr", *args)
        started.append(served)
        return served

    yield start
    for served in started:
        stop_serve(served)


async def healthy(http: aiohttp.ClientSession, url: str) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def all_healthy(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for _, url in served.workers:
            await healthy(http, url)


async def test_workers_answer_on_their_own_ports_and_the_shared_one(
    serve: Callable[..., Served], serve_env: dict[str, str]
) -> None:
    """Both workers answer on their own ports and the shared one; SIGTERM ends all, exit 0."""
    served = serve()
    await all_healthy(served)
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


async def test_a_killed_worker_is_replaced_and_its_port_serves_again(
    serve: Callable[..., Served],
) -> None:
    """kill -9 of a worker: the parent starts another on the same ports; the rest keeps serving."""
    served = serve()
    await all_healthy(served)
    (first, first_url), (second, _) = served.workers
    os.kill(first, signal.SIGKILL)
    replacement = await asyncio.to_thread(restarted, served, 0)
    assert replacement != first and _alive(replacement) and _alive(second)
    async with aiohttp.ClientSession() as http:
        await healthy(http, first_url)  # the same own port (its instance_url) again
        async with http.get(first_url + "/healthz") as response:
            assert (await response.json())["instance"] == first_url
    connector = aiohttp.TCPConnector(force_close=True)
    answered_by = set()
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(20):
            async with http.get(served.url + "/healthz") as response:
                assert response.status == 200
                answered_by.add((await response.json())["instance"])
    assert answered_by == {url for _, url in served.workers}  # both share the port again
    assert served.process.poll() is None
    served.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S) == 0
    assert await asyncio.to_thread(_wait_gone, [replacement, second]) == []


async def test_a_worker_that_keeps_crashing_stops_the_server_with_a_reason(
    serve: Callable[..., Served],
) -> None:
    """A worker dying at once, again and again, ends the group: exit 1 naming the worker."""
    served = serve()
    (pid, _), (second, _) = served.workers
    started = time.monotonic()
    for _ in range(RESTART_LIMIT - 1):
        os.kill(pid, signal.SIGKILL)  # before it has even imported the app
        pid = await asyncio.to_thread(restarted, served, 0)
    os.kill(pid, signal.SIGKILL)
    assert await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S) == 1
    assert time.monotonic() - started < RESTART_WINDOW_S
    assert await asyncio.to_thread(_wait_gone, [second]) == []
    assert (
        f"livemarket: worker 0 exited {RESTART_LIMIT} times within {RESTART_WINDOW_S:g} s "
        "(last exit code -9); giving up"
    ) in served.stderr.read_text()


async def test_workers_stop_when_the_parent_is_killed(serve: Callable[..., Served]) -> None:
    """A parent killed outright (SIGKILL, no chance to clean up) leaves no worker behind."""
    served = serve()
    await all_healthy(served)
    served.process.kill()
    await asyncio.to_thread(served.process.wait, STOP_TIMEOUT_S)
    assert await asyncio.to_thread(_wait_gone, [pid for pid, _ in served.workers]) == []


def whip_on(http: aiohttp.ClientSession, url: str, key: str):  # type: ignore[no-untyped-def]
    async def signal(offer: str) -> str:
        headers = {**SDP, "Authorization": f"Bearer {key}"}
        async with http.post(url, data=offer, headers=headers) as response:
            assert response.status == 201, await response.text()
            signal.location = response.headers["Location"]  # type: ignore[attr-defined]
            return await response.text()

    return signal


async def host_special(postgres_url: str) -> tuple[int, str]:
    """A host, a special of theirs live now, and their stream key."""
    engine = engine_for(load_settings({}, database_url=postgres_url))
    try:
        sessions = session_factory(engine)
        host = await create_user(sessions, username="host", password=PASSWORD, role="host")
        special_id = await add_special(sessions, host.id)
        async with sessions.begin() as db:
            return special_id, await stream_key_of(db, host.id)
    finally:
        await engine.dispose()


async def test_workers_share_chat_and_redirect_whep_to_the_publishing_worker(
    serve: Callable[..., Served], postgres_url: str
) -> None:
    """Chat crosses workers; a stream published on worker 0 plays via worker 1's 307."""
    served = serve()
    await all_healthy(served)
    (_, first), (_, second) = served.workers
    special_id, key = await host_special(postgres_url)

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

        whip = whip_on(alice.http, f"{first}/whip/{special_id}", key)
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


async def test_a_killed_relay_owner_gives_its_special_to_the_next_publisher(
    serve: Callable[..., Served], postgres_url: str
) -> None:
    """kill -9 of the worker holding a stream: the host re-publishes on the other within
    seconds (not the claim's TTL), and viewers anywhere are sent to the new owner."""
    served = serve()
    await all_healthy(served)
    (first_pid, first), (_, second) = served.workers
    special_id, key = await host_special(postgres_url)
    publishers = []
    viewer = None
    async with aiohttp.ClientSession() as http:
        try:
            publishers.append(
                await start_publisher(whip_on(http, f"{first}/whip/{special_id}", key))
            )
            headers = {**SDP, "Authorization": f"Bearer {key}"}
            async with http.post(
                f"{second}/whip/{special_id}", data="v=0\r\n", headers=headers
            ) as refused:  # the claim is checked before the offer is read
                assert refused.status == 409
                assert (await refused.json())["error"]["code"] == "stream_elsewhere"

            os.kill(first_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            accepted = []  # when the accepted request was sent (its answer takes a while more)

            async def whip_until_taken(offer: str) -> str:
                async with asyncio.timeout(RELAY_TTL_S):
                    while True:
                        sent = time.monotonic()
                        async with http.post(
                            f"{second}/whip/{special_id}", data=offer, headers=headers
                        ) as response:
                            if response.status != 409:
                                assert response.status == 201, await response.text()
                                accepted.append(sent - killed_at)
                                return await response.text()
                        await asyncio.sleep(0.1)

            publishers.append(await start_publisher(whip_until_taken))
            assert accepted[0] < OWNER_LEASE_S + 1.0, accepted

            replacement = await asyncio.to_thread(restarted, served, 0)
            await healthy(http, first)  # worker 0 again: a new process on the same port
            async with http.post(
                f"{first}/whep/{special_id}", data="v=0\r\n", headers=SDP, allow_redirects=False
            ) as redirected:
                assert redirected.status == 307, await redirected.text()
                assert redirected.headers["Location"] == f"{second}/whep/{special_id}"

            async def whep(offer: str) -> str:  # follows the 307, as a browser's fetch does
                async with http.post(f"{first}/whep/{special_id}", data=offer, headers=SDP) as r:
                    assert r.status == 201, await r.text()
                    assert r.headers["Location"].startswith(f"{second}/whep/{special_id}/")
                    return await r.text()

            viewer = await start_viewer(whep)
            await viewer.wait_frames(5)
            assert _alive(replacement)
        finally:
            for peer in (viewer, *publishers):
                if peer is not None:
                    await peer.close()


SPECIALS_AT_ONCE = 6


async def test_workers_start_each_planned_deal_at_the_start_exactly_once(
    serve: Callable[..., Served], postgres_url: str
) -> None:
    """Specials created over the API start at one instant with a deal at offset 0 each:
    on two workers (each with its own scheduler) every deal starts once, with its special."""
    served = serve()
    await all_healthy(served)
    (_, first), _ = served.workers
    engine = engine_for(load_settings({}, database_url=postgres_url))
    try:
        sessions = session_factory(engine)
        await create_user(sessions, username="op", password=PASSWORD, role="operator")
        hosts = [
            (await create_user(sessions, username=f"host{i}", password=PASSWORD, role="host")).id
            for i in range(SPECIALS_AT_ONCE)
        ]
        async with sessions.begin() as db:
            products = [
                Product(sku=f"P{i}", name=f"상품 {i}", category="food", price=9900, stock=50)
                for i in range(SPECIALS_AT_ONCE)
            ]
            db.add_all(products)
        operator = Peer(first)
        try:
            await operator.login("op")
            start = (utcnow() + timedelta(seconds=6)).replace(microsecond=0)
            special_ids = []
            for index, (host, product) in enumerate(zip(hosts, products, strict=True)):
                body = {
                    "title": f"At once {index}",
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat(),
                    "host_id": host,
                    "channel": f"studio-{index}",
                    "product_ids": [product.id],
                    "deals": [
                        {
                            "product_id": product.id,
                            "offset_s": 0,
                            "discount_pct": 20,
                            "duration_s": 600,
                            "quantity": 10,
                        }
                    ],
                }
                async with operator.http.post(
                    f"{first}/api/v1/specials", json=body, headers={"X-CSRF-Token": operator.csrf}
                ) as response:
                    assert response.status == 201, await response.text()
                    special_ids.append((await response.json())["id"])
        finally:
            await operator.close()
        assert utcnow() < start, "too slow to create the specials before they start"

        async def settled() -> bool:
            async with sessions() as db:
                planned = list(await db.scalars(sa.select(PlannedDeal)))
                return all(row.deal_id is not None for row in planned)

        deadline = time.monotonic() + 30  # bounded: due in 6 s (a skipped deal never settles)
        while not await settled() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a second start, were there one, would be written by now
        async with sessions() as db:
            deals = list(await db.scalars(sa.select(FlashDeal)))
            statuses = set(await db.scalars(sa.select(Special.status)))
        assert sorted(deal.special_id for deal in deals) == sorted(special_ids)
        assert statuses == {"live"}
    finally:
        await engine.dispose()
