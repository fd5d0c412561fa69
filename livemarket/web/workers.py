"""``livemarket serve --workers N``: N server processes on one port, supervised.

Why: one Python process serves on one core, and the checkout race is CPU-bound in
it. With ``SO_REUSEPORT`` every worker has a listening socket of its own on the
shared port and the kernel spreads new connections over them (by a hash of the
connection's addresses), so N workers use N cores with no proxy in front.

Each worker is simply one more scale-out instance, which is why several workers
need ``redis_url``: the Redis bus, stock ledger, presence, scheduler claims and
relay directory already let instances share one database and one Redis. A
special's media lives on the worker that accepted its WHIP publisher, so every
worker also listens on a port of its own (``worker_base_port + i``, by default
``port + 1 + i``) and advertises that address as its ``instance_url``: a WHEP
viewer who lands on another worker through the shared port gets a ``307`` to
the owner's own port. Every worker's CORS policy allows every worker's origin
and the shared port's, so a page follows that redirect.

The parent binds every socket itself before starting anything, so a taken port
fails at once with a clear message rather than in a worker: it first probes the
shared port with a plain bind (no ``SO_REUSEPORT``), which fails if anything
listens there, including the workers of another ``livemarket serve --workers``
(Linux would otherwise let two launches by the same user join one port
silently, each getting a share of the connections). Only a launch in the same
instant, between that probe and the bind a few microseconds later, can slip
through. The parent hands the sockets to the workers and keeps its own copies for
the workers' replacements.

Workers are ``multiprocessing`` processes of the *spawn* context: a fresh
interpreter each, because the parent has already run migrations and the demo
seed on asyncio and SQLAlchemy, whose loops, pools and threads must not be
forked. ``multiprocessing`` passes the validated per-worker ``Settings`` and the
listening sockets (file descriptors) to the child as they are (the parent keeps
its own copies, see below), and its process objects give the pid, exit code and a
sentinel to wait on.

Supervision: SIGTERM or SIGINT to the parent sends SIGTERM to every worker (each
drains its connections, ``SHUTDOWN_TIMEOUT_S``), waits, kills what is left after
``STOP_TIMEOUT_S``, and exits 0. A worker that exits on its own (a crash, an OOM
kill) is started again in its place, on the same sockets, after a backoff that
grows with its recent crashes (:class:`RestartPolicy`); the parent keeps its copy
of every listening socket for that, so connections the kernel queued on a dead
worker's socket wait for its replacement instead of being refused. A worker that
crashes ``RESTART_LIMIT`` times within ``RESTART_WINDOW_S`` is a crash loop no
restart will cure: the parent stops the others, says which worker and why, and
exits 1 so a process manager (systemd, Kubernetes) sees the failure. Workers sit
in their own process group, so a terminal's Ctrl-C reaches the parent only (which
then stops them once); they also watch the parent's sentinel and stop when the
parent is gone, even after a SIGKILL.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from livemarket.config import Settings
from livemarket.config.settings import WILDCARD_HOSTS
from livemarket.web.cors import origin_of
from livemarket.web.logging import configure_logging
from livemarket.web.restarts import RestartPolicy
from livemarket.web.serving import SHUTDOWN_TIMEOUT_S, run_server

logger = logging.getLogger(__name__)

#: How long stopping workers get to drain and clean up before they are killed.
STOP_TIMEOUT_S = SHUTDOWN_TIMEOUT_S + 10.0
#: Listen backlog of every socket (aiohttp's default).
BACKLOG = 128


class ListenError(OSError):
    """A port the workers need cannot be bound; the message says which and why."""


@dataclass
class Worker:
    """One worker: its number, its own port and URL, and (once started) its process."""

    index: int
    port: int
    instance_url: str
    listeners: list[socket.socket] = field(default_factory=list)
    process: BaseProcess | None = None


# --- addresses (no I/O) ---------------------------------------------------------------


def requested_worker_port(settings: Settings, index: int) -> int:
    """Worker ``index``'s own port: ``worker_base_port + index``, else ``port + 1 + index``.

    0 (any free port) when neither is set, i.e. when ``port`` is 0 too.
    """
    if settings.worker_base_port:
        return settings.worker_base_port + index
    return settings.port + 1 + index if settings.port else 0


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host


def worker_instance_url(settings: Settings, index: int, port: int) -> str:
    """What worker ``index`` listening on ``port`` advertises as its ``instance_url``."""
    if settings.instance_url:
        return settings.instance_url.replace("{worker}", str(index)).replace("{port}", str(port))
    return f"http://{url_host(settings.host)}:{port}"


def worker_settings(
    settings: Settings, workers: Sequence[Worker], index: int, shared_port: int
) -> Settings:
    """Worker ``index``'s settings: its own ``instance_url``; every worker's origin allowed.

    The shared port's origin is allowed too (a page served there follows WHEP's 307 to
    a worker's own port) unless the host is a wildcard, which no browser ever uses.
    """
    origins = [*settings.allowed_origins, *(worker.instance_url for worker in workers)]
    if settings.host not in WILDCARD_HOSTS:
        origins.append(f"http://{url_host(settings.host)}:{shared_port}")
    unique = tuple(dict.fromkeys(filter(None, map(origin_of, origins))))
    return settings.model_copy(
        update={"instance_url": workers[index].instance_url, "allowed_origins": unique}
    )


# --- sockets --------------------------------------------------------------------------


def _addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[object, ...]]]:
    """Where ``host`` listens, as asyncio's ``create_server`` resolves it."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))


def _bind(
    family: socket.AddressFamily,
    sockaddr: tuple[object, ...],
    port: int,
    *,
    shared: bool,
    listen: bool = True,
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((sockaddr[0], port, *sockaddr[2:]))
        if listen:
            sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_server(settings: Settings) -> list[socket.socket]:
    """The sockets a single ``serve`` process listens on, bound before anything is announced.

    Raises :class:`ListenError` (one line: which address, why) for a host that does not
    resolve or a port that is taken, before the app is built or the banner printed.
    """
    host = settings.host
    try:
        addresses = _addresses(host, settings.port)
    except OSError as exc:
        raise ListenError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    port = settings.port
    listeners: list[socket.socket] = []
    try:
        for family, sockaddr in addresses:
            try:
                sock = _bind(family, sockaddr, port, shared=False)
            except OSError as exc:
                raise ListenError(
                    f"cannot listen on {sockaddr[0]}:{port}: {exc.strerror} (another server, "
                    "or another `livemarket serve`, is using it)"
                ) from exc
            listeners.append(sock)
            port = port or sock.getsockname()[1]
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    return listeners


def bind_listeners(settings: Settings) -> tuple[int, list[Worker]]:
    """Bind the shared port (once per worker, SO_REUSEPORT) and each worker's own port.

    Returns the shared port (the bound one when ``port`` is 0) and the workers, each
    holding its sockets. Raises :class:`ListenError` naming the port that is taken.
    """
    host = settings.host
    try:
        addresses = _addresses(host, settings.port)
    except OSError as exc:
        raise ListenError(f"cannot resolve host {host!r}: {exc}") from exc
    shared_port = settings.port
    workers: list[Worker] = []
    try:
        if shared_port:
            for family, sockaddr in addresses:  # a plain bind: fails if anyone listens
                _probe(family, sockaddr, shared_port)
        for index in range(settings.workers):
            worker = Worker(index, requested_worker_port(settings, index), "")
            workers.append(worker)
            for family, sockaddr in addresses:
                sock = _bind_or_explain(family, sockaddr, shared_port, shared=True)
                worker.listeners.append(sock)
                shared_port = shared_port or sock.getsockname()[1]
            for family, sockaddr in addresses:
                sock = _bind_or_explain(family, sockaddr, worker.port, shared=False)
                worker.listeners.append(sock)
                worker.port = worker.port or sock.getsockname()[1]
            worker.instance_url = worker_instance_url(settings, index, worker.port)
    except BaseException:
        close_listeners(workers)
        raise
    return shared_port, workers


def _probe(family: socket.AddressFamily, sockaddr: tuple[object, ...], port: int) -> None:
    try:
        _bind(family, sockaddr, port, shared=False, listen=False).close()
    except OSError as exc:
        raise ListenError(
            f"cannot listen on {sockaddr[0]}:{port}: {exc.strerror} (another server, or "
            "another `livemarket serve`, is using it)"
        ) from exc


def _bind_or_explain(
    family: socket.AddressFamily, sockaddr: tuple[object, ...], port: int, *, shared: bool
) -> socket.socket:
    try:
        return _bind(family, sockaddr, port, shared=shared)
    except (OSError, OverflowError) as exc:
        what = "the shared port" if shared else "a worker's own port (worker_base_port)"
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ListenError(f"cannot listen on {sockaddr[0]}:{port}, {what}: {reason}") from exc


def close_listeners(workers: Sequence[Worker]) -> None:
    for worker in workers:
        for sock in worker.listeners:
            sock.close()
        worker.listeners.clear()


# --- the worker process ---------------------------------------------------------------


def _worker_main(settings: Settings, listeners: list[socket.socket]) -> None:
    """A worker's entry point (runs in the spawned interpreter)."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C goes to the parent, which stops us once
    configure_logging(settings.log_level)
    parent = multiprocessing.parent_process()
    run_server(settings, listeners, parent_sentinel=parent.sentinel if parent else None)


# --- supervision ----------------------------------------------------------------------


@contextmanager
def _signals_wake(received: list[int]) -> Iterator[socket.socket]:
    """While open, SIGTERM/SIGINT are recorded in ``received`` and wake the returned socket."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = {
        signum: signal.signal(signum, lambda signum, _frame: received.append(signum))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    old_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        yield reader
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reader.close()
        writer.close()


def _spawn(settings: Settings, shared_port: int, workers: Sequence[Worker], index: int) -> None:
    """Start worker ``index`` on its sockets (copies; the parent keeps its own)."""
    worker = workers[index]
    process = multiprocessing.get_context("spawn").Process(
        target=_worker_main,
        args=(worker_settings(settings, workers, index, shared_port), worker.listeners),
        name=f"livemarket-worker-{index}",
    )
    process.start()
    worker.process = process


def _announce(worker: Worker) -> None:
    pid = worker.process.pid if worker.process else None
    print(f"worker {worker.index} (pid {pid}): {worker.instance_url}/", flush=True)


def _supervise(
    settings: Settings,
    shared_port: int,
    workers: Sequence[Worker],
    wake: socket.socket,
    received: list[int],
) -> None:
    """Restart workers that exit by themselves until a stop signal.

    Raises :class:`~livemarket.web.restarts.CrashLoop` when one worker keeps crashing.
    """
    policy = RestartPolicy()
    due: dict[int, float] = {}  # worker index -> when (monotonic) to start it again
    while True:
        sentinels = [w.process.sentinel for w in workers if w.process is not None]
        timeout = max(0.0, min(due.values()) - time.monotonic()) if due else None
        wait([*sentinels, wake], timeout)
        if received:
            logger.info("stopping workers", extra={"fields": {"signal": received[0]}})
            return
        now = time.monotonic()
        for worker in workers:
            if worker.process is None or worker.process.is_alive():
                continue
            fields = {
                "worker": worker.index,
                "pid": worker.process.pid,
                "exitcode": worker.process.exitcode,
            }
            worker.process.close()
            worker.process = None
            delay = policy.crashed(worker.index, now, fields["exitcode"])
            logger.error(
                "worker exited; starting another in its place",
                extra={"fields": {**fields, "delay_s": delay}},
            )
            due[worker.index] = now + delay
        for index, at in list(due.items()):
            if at <= time.monotonic():
                del due[index]
                _spawn(settings, shared_port, workers, index)
                _announce(workers[index])
        with suppress(BlockingIOError):
            wake.recv(4096)  # a signal we do not act on; go back to waiting


def stop_workers(workers: Sequence[Worker], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM every live worker, wait up to ``timeout`` for all, then SIGKILL the rest."""
    processes = [w.process for w in workers if w.process is not None and w.process.is_alive()]
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            logger.warning(
                "worker did not stop in time; killing it", extra={"fields": {"pid": process.pid}}
            )
            process.kill()
            process.join(5.0)


def serve_workers(settings: Settings) -> int:
    """Run ``settings.workers`` workers until a signal (exit 0); restart those that crash.

    Raises :class:`~livemarket.web.restarts.CrashLoop`, after stopping the others,
    when one keeps crashing.
    """
    shared_port, workers = bind_listeners(settings)
    received: list[int] = []
    with _signals_wake(received) as wake:
        try:
            for worker in workers:
                _spawn(settings, shared_port, workers, worker.index)
            print(
                f"LiveMarket on http://{url_host(settings.host)}:{shared_port}/ "
                f"({len(workers)} workers)",
                flush=True,
            )
            for worker in workers:
                _announce(worker)
            _supervise(settings, shared_port, workers, wake, received)
        finally:
            close_listeners(workers)
            stop_workers(workers)
    return 0
