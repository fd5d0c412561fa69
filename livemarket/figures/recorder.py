"""Samples each live special's audience every few seconds and stores it once per beat.

Cheap on the hot path by construction: nothing is counted per viewer or per click here;
the sampler reads the totals presence and likes already keep, folds them into the
current minute in memory, and writes the changed minutes in one statement per beat.
While the database is away, samples wait in memory (bounded) and are written when it
answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.figures import store
from livemarket.figures.series import floor_minute

log = logging.getLogger(__name__)

#: Viewers and like totals of the given specials, as presence and likes know them now.
Sampler = Callable[[list[int]], Awaitable[dict[int, tuple[int, int]]]]

#: Minutes kept while the database does not answer: a season's worth of live minutes
#: (60 specials × 4 h) fits; past it the oldest are dropped and counted.
MAX_PENDING = 20_000


class MinuteFolder:
    """Folds samples into per-minute peaks; hands out what changed since the last write."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self.pending: dict[tuple[int, datetime], tuple[int, int]] = {}
        self.dropped = 0

    def add(self, at: datetime, samples: dict[int, tuple[int, int]]) -> None:
        minute = floor_minute(at)
        for special_id, (viewers, likes) in samples.items():
            key = (special_id, minute)
            old = self.pending.get(key, (0, 0))
            self.pending[key] = (max(old[0], viewers), max(old[1], likes))
        while len(self.pending) > self.limit:
            del self.pending[next(iter(self.pending))]
            self.dropped += 1

    def take(self) -> dict[tuple[int, datetime], tuple[int, int]]:
        taken, self.pending = self.pending, {}
        return taken

    def give_back(self, samples: dict[tuple[int, datetime], tuple[int, int]]) -> None:
        """Return a batch the database refused, merged with anything sampled since."""
        newer = self.pending
        self.pending = dict(samples)
        for (special_id, minute), figures in newer.items():
            self.add(minute, {special_id: figures})


class FiguresRecorder:
    """The sampling loop; owned by the app's cleanup context."""

    def __init__(
        self,
        engine: AsyncEngine,
        sample: Sampler,
        clock: Callable[[], datetime],
        *,
        interval_s: float = 5.0,
        live_specials: Callable[[], Awaitable[Iterable[int]]] | None = None,
    ) -> None:
        self.engine = engine
        self.sample = sample
        self.clock = clock
        self.interval_s = interval_s
        self.live_specials = live_specials or (lambda: store.live_special_ids(engine))
        self.folder = MinuteFolder()
        self.failures = 0

    async def beat(self) -> None:
        """Sample the live specials once and write what is pending."""
        ids = list(await self.live_specials())
        if ids:
            self.folder.add(self.clock(), await self.sample(ids))
        batch = self.folder.take()
        try:
            await store.record_samples(self.engine, batch)
        except BaseException:
            self.folder.give_back(batch)
            raise

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s * min(2**self.failures, 12))
            try:
                await self.beat()
            except Exception as exc:  # the database or Redis is away: keep and retry
                self.failures += 1
                log.warning("figures: sampling failed (%s); retrying", exc.__class__.__name__)
            else:
                if self.failures:
                    log.info("figures: sampling recovered after %d failures", self.failures)
                self.failures = 0

    async def close(self) -> None:
        """Write what is pending one last time (best effort)."""
        try:
            await store.record_samples(self.engine, self.folder.take())
        except Exception:
            log.warning("figures: could not write the last samples at shutdown")
