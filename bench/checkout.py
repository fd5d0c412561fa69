"""Checkout benchmark: K buyers race over HTTP for S units of one flash deal.

For each mode (``embedded``: SQLite + in-process ledger; ``scaleout``: PostgreSQL +
Redis Lua ledger) it migrates and seeds a fresh database (an operator, a host, a
live special, one product with exactly S units), starts ``python -m livemarket
serve`` on 127.0.0.1, has the host start a 30% deal of S units over the API, then
K buyers (each its own viewer session, spread over ``--procs`` client processes)
order one unit at a time with fresh Idempotency-Keys until refused, and send
``--extra`` more orders each after their first refusal (to measure refusals).

Checks: exactly S orders succeeded, every other answer was a sold-out refusal
(``deal_sold_out``, ``deal_ended`` or ``sold_out``), and the server's own sales view
shows S units and the product 0 left (no oversell, no undersell).

``--workers N`` runs the ``scaleout`` server as N processes (``LIVEMARKET_WORKERS``);
``embedded`` is one process by design.

Calibration: machines differ a lot, so after the races the same buyers (same client
code, ``--procs`` processes, ``--extra``) are run against ``bench/bare_server.py``, a
bare aiohttp server answering every order with a fixed sold-out refusal: one process,
and N ``reuse_port`` processes when ``--workers`` N > 1. As many requests as the races'
refusals, capped at ``CEILING_REQUESTS`` (a few seconds). ``--no-ceiling`` skips it.

Prints one JSON line: the run's parameters (``buyers``, ``units``, ``procs``,
``workers``, ``cpus``, ``server_loop``); per mode ``orders_per_s`` (from the first order
sent to the last success), ``sold_out_refusals_per_s`` (first to last refusal),
``sell_out_s``, exact counts (``orders_ok``, ``refused_sold_out``, ``other_errors``), the
server's own ``server`` view, ``load_1m`` before and after, ``exact`` (every check
passed) and ``refusals_vs_ceiling`` (refusals/s / the bare figure for the same number
of server processes); and ``ceiling``: ``bare_aiohttp_req_per_s`` keyed by process count,
the ``requests`` sent per measurement and ``load_1m``.

Quick run: ``python bench/checkout.py --buyers 100 --units 200``.
Against an already running server: ``--url http://127.0.0.1:8080 --special-id N
--product-id N --host-user U --host-password P --operator-user U --operator-password P``
(the product must be in the special's line-up with exactly S units in stock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

HOST = "127.0.0.1"
PASSWORD = "bench password 1"
REFUSED = {"deal_sold_out", "deal_ended", "sold_out"}
BUYER = {"name": "김민수", "phone": "010-1234-5678", "address": "서울특별시 중구 세종대로 110"}


@dataclass
class Target:
    base: str
    special_id: int
    product_id: int
    host: tuple[str, str]
    operator: tuple[str, str]


# --- server set-up ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free ports (the server's, then one per worker).

    Picked below the kernel's ephemeral range: the ports after a kernel-chosen one are
    often held by the client connections of the previous race (TIME_WAIT), and a
    worker that cannot listen on its own port stops the server.
    """
    for _attempt in range(100):
        first = random.randrange(20_000, 32_000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind((HOST, port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports between 20000 and 32000")


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _forget(redis_url: str, prefix: str) -> None:
    """Delete the run's Redis keys."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def seed(database_url: str, units: int) -> tuple[int, int]:
    """Accounts, a live special and one product of ``units``; returns (special, product)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from livemarket.accounts.service import create_user
    from livemarket.checkout.tables import products, special_products, specials
    from livemarket.storage.base import utcnow
    from livemarket.storage.engine import create_engine, session_factory

    engine = create_engine(database_url)
    sessions = session_factory(engine)
    host = await create_user(sessions, username="benchhost", password=PASSWORD, role="host")
    await create_user(sessions, username="benchop", password=PASSWORD, role="operator")
    now = utcnow()
    async with engine.begin() as conn:
        special_id = (
            await conn.execute(
                insert(specials)
                .values(
                    title="bench",
                    starts_at=now - timedelta(minutes=5),
                    ends_at=now + timedelta(hours=2),
                    status="live",
                    host_id=host.id,
                )
                .returning(specials.c.id)
            )
        ).scalar_one()
        product_id = (
            await conn.execute(
                insert(products)
                .values(
                    sku="BENCH-1", name="벤치 유자청", category="food", price=12_900, stock=units
                )
                .returning(products.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(special_products).values(special_id=special_id, product_id=product_id)
        )
    await engine.dispose()
    return int(special_id), int(product_id)


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    profile = os.environ.get("BENCH_SERVER_PROFILE")  # a path: cProfile the server into it
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen(
        [sys.executable, *prefix, "-m", "livemarket", "serve", "--host", HOST, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_SERVER_STDERR") else subprocess.DEVNULL,
    )


async def wait_ready(
    base: str, within_s: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait for ``/healthz``; fail at once if ``process`` (the spawned server) exits."""
    import aiohttp

    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {process.returncode}"
                    " (BENCH_SERVER_STDERR=1 shows its error output)"
                )
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("server did not start")


# --- the race --------------------------------------------------------------------------
#
# The load generator shares the machine with the server, so each request must cost the
# client as little as possible: one raw keep-alive HTTP/1.1 connection per buyer as an
# asyncio protocol (uvloop when installed; one future per request, no stream reader),
# the order body encoded once, keys from a counter, and only the status line,
# Set-Cookie and Content-Length read from each answer.


class Connection(asyncio.Protocol):
    """One buyer's keep-alive HTTP/1.1 connection with its session cookie (one request at a
    time: the answer is parsed straight from the received bytes)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.cookie = b""
        self._transport: asyncio.Transport | None = None
        self._received = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, base: str) -> Connection:
        hostport = base.split("://", 1)[1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(lambda: cls(hostport), host, int(port))
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._received += data
        answer = self._answer
        if answer is None or answer.done():
            return
        try:
            parsed = self._parse()
        except Exception as exc:  # a malformed answer fails the request, not the loop
            answer.set_exception(exc)
            return
        if parsed is not None:
            answer.set_result(parsed)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc or ConnectionError("the server closed the connection"))

    def _parse(self) -> tuple[int, bytes] | None:
        """The whole answer at the front of the buffer, or ``None`` while it is incomplete."""
        end = self._received.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self._received[:end])
        length = 0
        cookie = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"set-cookie":
                cookie = value.strip().split(b";", 1)[0]
            elif lowered == b"transfer-encoding":
                raise RuntimeError("chunked answers are not expected from the API")
        total = end + 4 + length
        if len(self._received) < total:
            return None
        body = bytes(self._received[end + 4 : total])
        del self._received[:total]
        if cookie is not None:
            self.cookie = cookie
        return int(head[9:12]), body

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: bytes = b""
    ) -> tuple[int, bytes]:
        assert self._transport is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n").encode()
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        if self.cookie:
            head += b"Cookie: " + self.cookie + b"\r\n"
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(head + headers + b"\r\n" + body)
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _error_code(status: int, data: bytes) -> str:
    try:
        return str(json.loads(data)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"


async def _buyer(
    base: str, body: bytes, extra: int, start_at: float, out: list[tuple[float, str]]
) -> None:
    conn = await Connection.open(base)
    try:
        status, data = await conn.request("GET", "/api/v1/session")
        assert status == 200, data
        csrf = json.loads(data)["csrf_token"]
        fixed = f"X-CSRF-Token: {csrf}\r\nIdempotency-Key: ".encode()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        out.append((time.time(), "start"))
        refusals_left = extra + 1
        key_prefix = uuid.uuid4().hex.encode()  # one random part per buyer, then a counter
        sent = 0
        while refusals_left > 0:
            sent += 1
            headers = fixed + key_prefix + b"-%d\r\n" % sent
            status, data = await conn.request("POST", "/api/v1/orders", body, headers)
            if status == 201:
                out.append((time.time(), "ok"))
            else:
                out.append((time.time(), _error_code(status, data)))
                refusals_left -= 1
    finally:
        conn.close()


def client_process(
    base: str, special_id: int, product_id: int, buyers: int, extra: int, start_at: float, conn: Any
) -> None:
    """Run ``buyers`` buyers (each its own connection and session) and send back outcomes."""
    body = json.dumps(
        {
            "special_id": special_id,
            "items": [{"product_id": product_id, "quantity": 1}],
            "buyer": BUYER,
        },
        ensure_ascii=False,
    ).encode()

    async def main() -> list[tuple[float, str]]:
        out: list[tuple[float, str]] = []
        await asyncio.gather(*(_buyer(base, body, extra, start_at, out) for _ in range(buyers)))
        return out

    try:
        import uvloop
    except ImportError:
        conn.send(asyncio.run(main()))
    else:
        conn.send(uvloop.run(main()))
    conn.close()


async def login(http: Any, base: str, user: tuple[str, str]) -> str:
    async with http.post(
        base + "/api/v1/session", json={"username": user[0], "password": user[1]}
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])


async def start_deal(target: Target, units: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, target.base, target.host)
        async with http.post(
            f"{target.base}/api/v1/specials/{target.special_id}/deals",
            json={
                "product_id": target.product_id,
                "discount_pct": 30,
                "duration_s": 600,
                "quantity": units,
                "per_buyer_limit": 99,
            },
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            return dict(await response.json())


async def server_view(target: Target) -> dict[str, Any]:
    """The server's own account after the race: units sold and stock left."""
    import aiohttp

    await asyncio.sleep(1.5)  # the Redis ledger writes counters back within a second
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, target.base, target.operator)
        async with http.get(f"{target.base}/api/v1/specials/{target.special_id}/sales") as r:
            sales = await r.json()
        async with http.get(f"{target.base}/api/v1/products/{target.product_id}") as r:
            product = await r.json()
    return {"units_sold": sales["totals"]["deal_units"], "stock_left": product["stock"]}


def load_average() -> float | None:
    """The 1-minute load average (other work on the machine skews every figure)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_buyers(
    base: str, special_id: int, product_id: int, buyers: int, extra: int, procs: int
) -> tuple[float, list[tuple[float, str]]]:
    """Run the buyers over ``procs`` client processes: (first order's time, outcomes)."""
    start_at = time.time() + 2.0 + buyers / 500  # every client has its session by then
    pipes, workers = [], []
    for index in range(procs):
        share = buyers // procs + (1 if index < buyers % procs else 0)
        parent, child = mp.Pipe(duplex=False)
        worker = mp.Process(
            target=client_process,
            args=(base, special_id, product_id, share, extra, start_at, child),
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    outcomes: list[tuple[float, str]] = []
    for pipe in pipes:
        outcomes.extend(pipe.recv())
    for worker in workers:
        worker.join()
    # Rates run from the first order sent (not the planned start: sessions may be late).
    began = min((t for t, code in outcomes if code == "start"), default=start_at)
    return began, [(t, code) for t, code in outcomes if code != "start"]


def per_second(times: list[float]) -> float:
    """Events/s from the first to the last of ``times`` (sorted); 0 under two events."""
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return round(len(times) / span, 1) if span else 0.0


def race(target: Target, buyers: int, units: int, extra: int, procs: int) -> dict[str, Any]:
    load_before = load_average()
    deal = asyncio.run(start_deal(target, units))
    began, outcomes = run_buyers(
        target.base, target.special_id, target.product_id, buyers, extra, procs
    )
    ok = sorted(t for t, code in outcomes if code == "ok")
    refused = sorted(t for t, code in outcomes if code in REFUSED)
    other: dict[str, int] = {}
    for _t, code in outcomes:
        if code != "ok" and code not in REFUSED:
            other[code] = other.get(code, 0) + 1
    view = asyncio.run(server_view(target))
    return {
        "deal_price": deal["price"],
        "orders_ok": len(ok),
        "refused_sold_out": len(refused),
        "other_errors": other,
        "orders_per_s": round(len(ok) / (ok[-1] - began), 1) if ok else 0.0,
        "sold_out_refusals_per_s": per_second(refused),
        "sell_out_s": round(ok[-1] - began, 3) if ok else None,
        "server": view,
        "load_1m": [load_before, load_average()],
        "exact": len(ok) == units and not other and view == {"units_sold": units, "stock_left": 0},
    }


# --- the machine's ceiling -------------------------------------------------------------
#
# Figures from different machines differ by 2x with the same code; the same buyers against
# a bare aiohttp server (bench/bare_server.py) measure what the HTTP stack and this client
# can do here at best, so a refusal rate can be read as a fraction of that.

CEILING_REQUESTS = 16_000  # per measurement: 2-5 s at 3,300-7,000 req/s (2 cores)
BARE_SERVER = Path(__file__).with_name("bare_server.py")


def start_bare(port: int, processes: int) -> list[subprocess.Popen[bytes]]:
    """Start ``processes`` bare servers on ``port`` (``reuse_port`` when more than one)
    and return once every one of them listens (each prints ``ready``)."""
    command = [sys.executable, str(BARE_SERVER), "--port", str(port)]
    if processes > 1:
        command.append("--reuse-port")
    started = []
    try:
        for _ in range(processes):
            started.append(subprocess.Popen(command, stdout=subprocess.PIPE))
        for server in started:
            assert server.stdout is not None
            if server.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"bare server did not start (status {server.poll()})")
    except BaseException:
        stop(started)
        raise
    return started


def stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


def bare_rate(processes: int, buyers: int, extra: int, procs: int) -> float:
    """Answers/s of ``processes`` bare servers to the bench's buyers (all refusals)."""
    port = free_port()
    servers = start_bare(port, processes)
    try:
        # Special and product ids only fill the order body, which the bare server ignores.
        _began, outcomes = run_buyers(f"http://{HOST}:{port}", 1, 1, buyers, extra, procs)
    finally:
        stop(servers)
    unexpected = {code for _t, code in outcomes if code != "sold_out"}
    if unexpected:
        raise RuntimeError(f"the bare server answered {sorted(unexpected)}")
    return per_second(sorted(t for t, _code in outcomes))


def measure_ceiling(buyers: int, extra: int, procs: int, workers: int) -> dict[str, Any]:
    """The bare figure for 1 server process and, when ``workers`` > 1, for ``workers``.

    Each buyer sends ``extra`` + 1 orders, as in a race's refusal phase, with ``extra``
    lowered so that no measurement sends more than ``CEILING_REQUESTS``."""
    load_before = load_average()
    extra = max(0, min(extra, CEILING_REQUESTS // max(buyers, 1) - 1))
    counts = [1] + ([workers] if workers > 1 else [])
    rates = {str(count): bare_rate(count, buyers, extra, procs) for count in counts}
    return {
        "bare_aiohttp_req_per_s": rates,
        "requests": buyers * (extra + 1),
        "load_1m": [load_before, load_average()],
    }


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    from livemarket.storage.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="lm-bench-") as data_dir:
        env = {
            "LIVEMARKET_DATA_DIR": data_dir,
            "LIVEMARKET_LOG_LEVEL": "WARNING",
            "LIVEMARKET_EVENT_LOOP": args.server_loop,
        }
        dropped = None
        if mode == "embedded":
            url = f"sqlite+aiosqlite:///{Path(data_dir) / 'livemarket.sqlite3'}"
        else:
            name = f"lm_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
            url = args.postgres_url.rsplit("/", 1)[0] + "/" + name
            dropped = name
            env.update(
                LIVEMARKET_DATABASE_URL=url,
                LIVEMARKET_REDIS_URL=args.redis_url,
                LIVEMARKET_REDIS_PREFIX=f"lmbench:{uuid.uuid4().hex[:8]}:",
            )
            if args.workers > 1:  # unset means one process
                env["LIVEMARKET_WORKERS"] = str(args.workers)
        try:
            upgrade(url)
            special_id, product_id = asyncio.run(seed(url, args.units))
            port = free_port_run(1 + (args.workers if mode == "scaleout" else 0))
            server = start_server(env, port)
            try:
                base = f"http://{HOST}:{port}"
                asyncio.run(wait_ready(base, process=server))
                target = Target(
                    base, special_id, product_id, ("benchhost", PASSWORD), ("benchop", PASSWORD)
                )
                return race(target, args.buyers, args.units, args.extra, args.procs)
            finally:
                server.terminate()
                server.wait(timeout=30)
        finally:
            if dropped:
                asyncio.run(
                    _admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')
                )
                asyncio.run(_forget(args.redis_url, env["LIVEMARKET_REDIS_PREFIX"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument(
        "--extra", type=int, default=10, help="orders each buyer sends after its first refusal"
    )
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="scaleout server processes (LIVEMARKET_WORKERS); with --url, the running"
        " server's process count, for refusals_vs_ceiling",
    )
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the bare-aiohttp calibration"
    )
    parser.add_argument("--modes", default="embedded,scaleout")
    parser.add_argument(
        "--server-loop",
        choices=("asyncio", "uvloop"),
        default="uvloop",
        help="the spawned server's event_loop setting",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "LIVEMARKET_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LIVEMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument("--url", help="a running server instead of spawning one")
    parser.add_argument("--special-id", type=int)
    parser.add_argument("--product-id", type=int)
    parser.add_argument("--host-user")
    parser.add_argument("--host-password")
    parser.add_argument("--operator-user")
    parser.add_argument("--operator-password")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "bench": "checkout",
        "buyers": args.buyers,
        "units": args.units,
        "procs": args.procs,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "server_loop": args.server_loop,
        "modes": {},
    }
    if args.url:
        needed = (
            "special_id",
            "product_id",
            "host_user",
            "host_password",
            "operator_user",
            "operator_password",
        )
        missing = [name for name in needed if getattr(args, name) is None]
        if missing:
            parser.error("--url needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        target = Target(
            args.url.rstrip("/"),
            args.special_id,
            args.product_id,
            (args.host_user, args.host_password),
            (args.operator_user, args.operator_password),
        )
        result["modes"]["external"] = race(target, args.buyers, args.units, args.extra, args.procs)
    else:
        for mode in args.modes.split(","):
            result["modes"][mode] = run_mode(mode, args)
    if not args.no_ceiling:
        ceiling = measure_ceiling(args.buyers, args.extra, args.procs, args.workers)
        result["ceiling"] = ceiling
        for mode, figures in result["modes"].items():
            processes = 1 if mode == "embedded" else args.workers
            bare = ceiling["bare_aiohttp_req_per_s"].get(str(processes))
            refusals = figures["sold_out_refusals_per_s"]
            figures["refusals_vs_ceiling"] = round(refusals / bare, 2) if bare else None
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
