"""Throwaway dependencies and app processes for fault drills: things a test may kill.

Each piece is a real process on a free loopback port: a ``redis-server`` without
persistence (a restart loses everything, like a real restart without AOF), a
PostgreSQL cluster from ``initdb`` in a temporary folder (stopped and started with
``pg_ctl``), and ``python -m livemarket serve`` instances pointed at them. They
are plain classes (no pytest) so ``bench/faults.py`` drives the same drills.

``initdb`` and ``postgres`` refuse to run as root: as root (CI) they run as the
``postgres`` system user, in a folder that user owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from livemarket.storage.migrate import upgrade

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {within_s} s")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


# --- Redis -----------------------------------------------------------------------------


def redis_missing() -> str | None:
    """Why a throwaway Redis cannot run here, or None."""
    return None if shutil.which("redis-server") else "redis-server is not installed"


class RedisServer:
    """A ``redis-server`` of our own; ``restart`` keeps the port and loses every key."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="lm-redis-"))
        self.port = port or free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        command = ["redis-server", "--bind", HOST, "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.folder), "--logfile", "redis.log"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait(lambda: _listening(self.port), 10, "redis-server")

    def stop(self) -> None:
        """SIGTERM (``SHUTDOWN``; nothing is saved: no save points, no AOF)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        self._end(signal.SIGKILL)

    def restart(self, down_s: float = 0.0, *, kill: bool = False) -> None:
        self.kill() if kill else self.stop()
        time.sleep(down_s)
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _end(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` with ``initdb``, or PATH's."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name.split(".")[0]),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def postgres_missing() -> str | None:
    """Why a throwaway PostgreSQL cluster cannot run here, or None."""
    if _pg_bin() is None:
        return "initdb is not installed (the postgresql package provides it)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PostgresCluster:
    """An ``initdb`` cluster in a temporary folder on a free port, with trust on loopback."""

    def __init__(self, port: int | None = None) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            raise RuntimeError("initdb is not installed")
        self.bin = bin_dir
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="lm-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.admin_url = f"postgresql://postgres@{HOST}:{self.port}/postgres"
        self._template_ready = False

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{database}"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self._as_user, *command], check=check, capture_output=True, timeout=120
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` drops clients and stops cleanly; ``immediate`` is the crash case."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        status = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    async def create_database(self, name: str) -> str:
        """Create ``name`` migrated to head (a copy of a template migrated once); its URL."""
        if not self._template_ready:
            await self._admin('CREATE DATABASE "lm_template"')
            await asyncio.to_thread(upgrade, self.url("lm_template"))
            self._template_ready = True
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "lm_template"')
        return self.url(name)

    async def _admin(self, statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    def close(self) -> None:
        if self.data.exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop",
                    check=False,
                )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


# --- app instances ---------------------------------------------------------------------


class AppProcess:
    """``python -m livemarket serve`` on a port of its own; kill it, start it again."""

    def __init__(self, env: dict[str, str], data_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.data_dir = data_dir
        self.log = data_dir / f"serve-{self.port}.log"
        self._env = {
            **os.environ,
            "LIVEMARKET_DATA_DIR": str(data_dir),
            "LIVEMARKET_INSTANCE_URL": self.url,
            **env,
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "livemarket", "serve", "--host", HOST],
                env={**self._env, "LIVEMARKET_PORT": str(self.port)},
                stdout=log,
                stderr=log,
            )

    async def wait_ready(self, within_s: float = 60.0) -> None:
        """Until ``/healthz`` answers at all (a degraded answer counts: the process is up)."""
        import aiohttp

        deadline = time.monotonic() + within_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"server exited; see {self.log}:\n{self.output()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/healthz") as response:
                        await response.read()
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server did not start; see {self.log}:\n{self.output()}")

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (benchmarks read its CPU time)."""
        return self._process.pid if self.running and self._process is not None else None

    def _end(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


async def start_apps(
    count: int, env: dict[str, str], data_dir: Path, ports: Sequence[int] = ()
) -> list[AppProcess]:
    """``count`` instances sharing ``env`` (database, Redis, secret), all ready."""
    apps = [
        AppProcess(env, data_dir / f"app{i}", ports[i] if i < len(ports) else None)
        for i in range(count)
    ]
    for app in apps:
        app.start()
    try:
        await asyncio.gather(*(app.wait_ready() for app in apps))
    except BaseException:
        for app in apps:
            app.kill()
        raise
    return apps
