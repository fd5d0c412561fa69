"""Background tasks: supervised loops outlive their errors; a swallowed cancellation must
not hang shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from livemarket.checkout import sweeper
from livemarket.tasks import (
    TaskBoard,
    TaskHealth,
    backoff_s,
    cancel_and_wait,
    raise_if_cancelled,
    supervise,
)


async def _swallows_cancels(times: int, inside: asyncio.Event, steps: int = 1_000) -> str:
    """Sleeps, swallowing the first ``times`` cancellations as a careless library would."""
    swallowed = 0
    for _step in range(steps):  # bounded: the test never leaves it running
        inside.set()
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            swallowed += 1
            if swallowed > times:
                raise
    return "never stopped"


async def test_a_task_that_swallows_one_cancel_is_cancelled_again() -> None:
    inside = asyncio.Event()
    task = asyncio.create_task(_swallows_cancels(1, inside))
    await inside.wait()
    await asyncio.wait_for(cancel_and_wait([task], within_s=2.0), 3.0)
    assert task.cancelled()


async def test_a_task_that_never_stops_is_left_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inside = asyncio.Event()
    task = asyncio.create_task(_swallows_cancels(1_000, inside, steps=60), name="stubborn")
    await inside.wait()
    with caplog.at_level(logging.WARNING, logger="livemarket.tasks"):
        await asyncio.wait_for(cancel_and_wait([task], within_s=0.2), 2.0)
    assert not task.done()
    assert "task stubborn did not stop when cancelled" in caplog.text
    assert await task == "never stopped"  # it runs out of its bounded loop


async def test_the_sweeper_stops_even_when_a_sweep_swallows_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled mid-sweep by a library that swallows it, the sweeper still ends."""
    inside = asyncio.Event()

    async def careless_sweep(_ctx: Any) -> None:
        inside.set()
        # What a careless client library does while closing a connection:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    monkeypatch.setattr(sweeper, "sweep_once", careless_sweep)
    task = asyncio.create_task(sweeper.run_sweeper(None, interval=10))  # type: ignore[arg-type]
    await inside.wait()
    task.cancel()
    done, _pending = await asyncio.wait([task], timeout=2.0)
    assert task in done and task.cancelled()


async def test_raise_if_cancelled_is_silent_without_a_pending_cancel() -> None:
    raise_if_cancelled()


# --- supervised loops ----------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n, base_s=0.1, cap_s=1.0) for n in range(1, 7)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]


async def test_a_supervised_loop_outlives_its_errors_and_reports_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A loop whose dependency raises (any exception, not only the expected ones) is
    restarted with backoff; the board shows it failing, then running once it goes well."""
    board = TaskBoard()
    attempts: list[int] = []
    healthy = asyncio.Event()

    async def body(health: TaskHealth) -> None:
        attempts.append(len(attempts))
        if len(attempts) <= 3:
            raise ConnectionRefusedError(111, "Connect call failed")
        health.ok()
        healthy.set()
        await asyncio.sleep(10)

    task = supervise("flaky", body, board=board, base_s=0.01, cap_s=0.05)
    with caplog.at_level(logging.INFO, logger="livemarket.tasks"):
        async with asyncio.timeout(3):
            await healthy.wait()
    [health] = board.snapshot()
    assert (health.name, health.state, health.failures, health.failures_total) == (
        "flaky",
        "running",
        0,
        3,
    )
    assert "ConnectionRefusedError" in health.last_error
    assert board.healthy
    assert "flaky failed; restarting" in caplog.text
    assert "flaky recovered after 3 failures" in caplog.text
    await cancel_and_wait([task])
    assert task.cancelled()
    assert health.state == "stopped"


async def test_a_failing_loop_makes_the_board_unhealthy() -> None:
    """While a loop waits to restart, it is ``failing`` and the board is not healthy."""
    board = TaskBoard()

    async def body(_health: TaskHealth) -> None:
        raise RuntimeError("database away")

    task = supervise("writer", body, board=board, base_s=5.0, cap_s=5.0)
    async with asyncio.timeout(2):
        while board.healthy:
            await asyncio.sleep(0.01)
    assert board.snapshot()[0].as_json()["last_error"] == "RuntimeError: database away"
    await cancel_and_wait([task])


async def test_two_loops_of_one_name_are_told_apart() -> None:
    board = TaskBoard()

    async def body(_health: TaskHealth) -> None:
        await asyncio.sleep(10)

    tasks = [supervise("batch-0", body, board=board) for _ in range(2)]
    assert [health.name for health in board.snapshot()] == ["batch-0", "batch-0#2"]
    await cancel_and_wait(tasks)
