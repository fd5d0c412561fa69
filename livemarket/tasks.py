"""Background tasks: supervised loops that survive their dependencies, and stopping them.

Every background loop (chat writer, bus reader, heartbeats, sweepers, batchers)
runs through :func:`supervise`: an exception of its dependency restarts it after a
backoff instead of ending it, and its health is on the app's :class:`TaskBoard`
(``/healthz``, ``/metrics``).


A task is stopped by ``cancel()`` and an ``await``; if code inside it catches the
``CancelledError`` and carries on (some client libraries do while closing a
connection), that ``await`` never returns and the app's shutdown hangs with it.
Seen once in CI: the checkout sweeper, cancelled mid-sweep, went back to sleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: How long shutdown waits for a cancelled task before it gives up on it.
STOP_TIMEOUT_S = 5.0


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, within_s: float = STOP_TIMEOUT_S
) -> None:
    """Cancel ``tasks`` and wait for them to end; one still running after ``within_s`` is
    cancelled once more, then left behind with a warning (shutdown goes on)."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    for _round in range(2):
        if not pending:
            return
        done, pending = await asyncio.wait(pending, timeout=within_s / 2)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: a failure on the way out is not worth a warning
        for task in pending:
            task.cancel()
    for task in pending:
        log.warning("task %s did not stop when cancelled", task.get_name())


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that code called by this task caught and swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


# --- supervised background loops ----------------------------------------------------

#: Backoff between restarts of a failing loop: doubles from ``BACKOFF_BASE_S`` to the cap.
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0


def backoff_s(
    failures: int, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S
) -> float:
    """The wait before restart number ``failures`` (1, 2, …): exponential, capped."""
    return float(min(cap_s, base_s * 2 ** max(failures - 1, 0)))


@dataclass
class TaskHealth:
    """What one background loop reports to ``/healthz`` and ``/metrics``.

    The loop's owner may also say how much it holds for its dependency (``backlog``)
    and how much it had to refuse or drop because its bounded buffer was full
    (``overflow``); the supervisor fills in the rest.
    """

    name: str
    state: str = "running"  # "running", "failing" (waiting to restart) or "stopped"
    failures: int = 0  # in a row, since the loop last went well
    failures_total: int = 0
    last_error: str = ""
    backlog: int = 0
    overflow: int = 0

    @property
    def healthy(self) -> bool:
        return self.state != "failing"

    def ok(self) -> None:
        """The loop's dependency answered: the next failure starts the backoff again."""
        if self.failures:
            log.info("%s recovered after %d failures", self.name, self.failures)
        self.state = "running"
        self.failures = 0

    def failed(self, error: BaseException) -> None:
        self.state = "failing"
        self.failures += 1
        self.failures_total += 1
        self.last_error = f"{type(error).__name__}: {error}"[:200]

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "failures_total": self.failures_total,
            "last_error": self.last_error or None,
            "backlog": self.backlog,
            "overflow": self.overflow,
        }


class TaskBoard:
    """The health of an app's supervised loops (one board per app, in ``TASKS_KEY``)."""

    def __init__(self) -> None:
        self._health: dict[str, TaskHealth] = {}

    def add(self, health: TaskHealth) -> None:
        name, number = health.name, 1
        while name in self._health and self._health[name].state != "stopped":
            number += 1
            name = f"{health.name}#{number}"
        health.name = name
        self._health[name] = health

    def snapshot(self) -> list[TaskHealth]:
        return sorted(self._health.values(), key=lambda health: health.name)

    @property
    def healthy(self) -> bool:
        return all(health.healthy for health in self._health.values())


#: A loop body: runs until cancelled, raises when its dependency fails (its state must
#: survive in its owner, since the body is started again), calls ``health.ok()`` when
#: a round went well.
LoopBody = Callable[[TaskHealth], Awaitable[None]]


def supervise(
    name: str,
    body: LoopBody,
    *,
    board: TaskBoard | None = None,
    health: TaskHealth | None = None,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
) -> asyncio.Task[None]:
    """Run ``body`` in a task that outlives any exception of it.

    An exception (a dependency away, a bug) is logged, counted in the loop's health
    and followed by a restart after an exponential backoff; only cancellation (stop
    the task with :func:`cancel_and_wait`) or a normal return ends the task, so it
    never dies with an exception nobody retrieves. ``health`` lets the loop's owner
    keep the record (its ``backlog`` and ``overflow``) from before the start.
    """
    health = health or TaskHealth(name)
    if board is not None:
        board.add(health)
    return asyncio.get_running_loop().create_task(
        _supervised(body, health, base_s, cap_s), name=name
    )


async def _supervised(body: LoopBody, health: TaskHealth, base_s: float, cap_s: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            started = loop.time()
            try:
                await body(health)
                return
            except Exception as error:  # noqa: BLE001 - surviving anything is the point
                if loop.time() - started > cap_s:
                    health.failures = 0  # it ran well for a while: start the backoff over
                health.failed(error)
                delay = backoff_s(health.failures, base_s=base_s, cap_s=cap_s)
                if health.failures == 1:
                    log.exception("%s failed; restarting in %.1f s", health.name, delay)
                else:
                    log.warning(
                        "%s failed again (%d in a row: %s); restarting in %.1f s",
                        health.name,
                        health.failures,
                        health.last_error,
                        delay,
                    )
                await asyncio.sleep(delay * random.uniform(0.8, 1.0))  # noqa: S311
                health.state = "running"
    finally:
        health.state = "stopped"
