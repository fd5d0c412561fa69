"""Stopping background tasks: a swallowed cancellation must not hang shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from livemarket.checkout import sweeper
from livemarket.tasks import cancel_and_wait, raise_if_cancelled


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
