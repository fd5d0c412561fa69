"""Group work: concurrent callers' items handled together, each caller gets its own answer.

A commit on PostgreSQL waits for a WAL flush and every statement costs a round
trip; under a crowd most of that is waiting, not work. :class:`Batcher` queues
items and runs ``handle`` on everything queued while the previous batch was in
flight, so the cost per batch is paid once for many callers. ``handle`` answers
every item with a value or an exception of its own; an exception raised by
``handle`` itself fails every item of that batch (``handle`` decides how much
to retry item by item first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from livemarket.tasks import cancel_and_wait, supervise

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Given the batch's items, one answer per item: a value, or the exception for that caller.
Handler = Callable[[Sequence[T]], Awaitable[Sequence["R | BaseException"]]]


class Batcher(Generic[T, R]):
    """Up to ``workers`` batches in flight, each of at most ``max_batch`` items.

    Started lazily on the first call (in the caller's loop); :meth:`close` cancels
    the workers and fails what is still queued.
    """

    def __init__(
        self, handle: Handler[T, R], *, max_batch: int = 256, workers: int = 2, name: str = "batch"
    ) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._workers = workers
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future gets its answer. Never blocks."""
        if self._closed:
            raise RuntimeError(f"{self._name} batcher is closed")
        loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()
            self._tasks = [
                supervise(f"{self._name}-{index}", lambda _health: self._run())
                for index in range(self._workers)
            ]
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        self._wake.set()
        return future

    async def __call__(self, item: T) -> R:
        return await self.submit(item)

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        taken = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        if not self._queue and self._wake is not None:
            self._wake.clear()
        # A caller cancelled before its turn is dropped: nothing was done for it.
        return [(item, future) for item, future in taken if not future.done()]

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            batch = self._take()
            if not batch:
                continue
            try:
                answers = await self._handle([item for item, _future in batch])
                if len(answers) != len(batch):
                    raise RuntimeError("a batch handler must answer every item")
            except asyncio.CancelledError:
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(RuntimeError(f"{self._name} batcher closed"))
                raise
            except Exception as exc:
                log.exception("%s batch of %d failed", self._name, len(batch))
                answers = [exc] * len(batch)
            for (_item, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def close(self) -> None:
        """Stop the workers; callers still queued get an error."""
        self._closed = True
        await cancel_and_wait(self._tasks)
        self._tasks = []
        queued, self._queue = self._queue, []
        for _item, future in queued:
            if not future.done():
                future.set_exception(RuntimeError(f"{self._name} batcher closed"))
