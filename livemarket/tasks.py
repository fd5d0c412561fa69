"""Stopping background tasks without letting a swallowed cancellation hang shutdown.

A task is stopped by ``cancel()`` and an ``await``; if code inside it catches the
``CancelledError`` and carries on (some client libraries do while closing a
connection), that ``await`` never returns and the app's shutdown hangs with it.
Seen once in CI: the checkout sweeper, cancelled mid-sweep, went back to sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
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
