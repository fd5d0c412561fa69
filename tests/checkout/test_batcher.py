"""The batcher groups concurrent callers and answers each one on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from livemarket.checkout.batcher import Batcher


async def test_concurrent_items_share_a_batch_and_get_their_own_answers() -> None:
    """Items queued while a batch runs go together; each caller gets its own value or error."""
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def handle(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        await gate.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(handle, workers=1)
    first = batcher.submit(0)
    await asyncio.sleep(0)  # the worker takes item 0 alone and waits on the gate
    rest = [batcher.submit(i) for i in range(1, 5)]
    gate.set()
    assert await first == 0
    answers = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[0], [1, 2, 3, 4]]
    assert [a if isinstance(a, int) else str(a) for a in answers] == ["odd 1", 20, "odd 3", 40]
    await batcher.close()


async def test_a_failing_handler_fails_only_its_batch() -> None:
    """An exception from the handler reaches that batch's callers; the next batch works."""
    calls = 0

    async def handle(items: Sequence[str]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(handle, workers=1)
    with pytest.raises(RuntimeError, match="went away"):
        await batcher("a")
    assert await batcher("b") == "B"
    await batcher.close()


async def test_close_fails_what_is_still_queued() -> None:
    """Closing the batcher answers queued callers with an error instead of leaving them hanging."""
    started = asyncio.Event()

    async def handle(items: Sequence[int]) -> list[int | BaseException]:
        started.set()
        await asyncio.sleep(3600)
        return list(items)

    batcher: Batcher[int, int] = Batcher(handle, workers=1)
    running = batcher.submit(1)
    await started.wait()
    queued = batcher.submit(2)
    await batcher.close()
    for future in (running, queued):
        with pytest.raises(RuntimeError, match="closed"):
            await future
