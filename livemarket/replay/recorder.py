"""Keeps the product pins of live specials with their times, from the bus (thin I/O).

The realtime gateway publishes ``product.pinned`` on the special's topic and overwrites
``specials.pinned_product_id``; nothing else keeps when a pin happened. This recorder
follows each live special's topic (learning of go-live and end from ``calendar.changed``),
queues every pin in memory and writes the queue in one statement per round. While the
database is away, pins wait in memory (bounded, oldest dropped and counted in the loop's
health) and are written when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.bus.events import CALENDAR_TOPIC, Event, EventBus, Subscription, special_topic
from livemarket.replay.models import ShowMoment
from livemarket.scheduler.models import Special
from livemarket.tasks import TaskBoard, TaskHealth, cancel_and_wait, supervise

log = logging.getLogger(__name__)

moments_table = cast(Table, ShowMoment.__table__)
specials_table = cast(Table, Special.__table__)

#: Pins kept while the database does not answer (a season of pins is far fewer).
MAX_PENDING = 10_000
#: How long shutdown waits for status reads under way.
CLOSE_WITHIN_S = 2.0
PINNED = "product.pinned"
UNPINNED = "product.unpinned"


@dataclass(frozen=True, slots=True)
class Moment:
    special_id: int
    at: datetime
    kind: str
    product_id: int | None


class MomentRecorder:
    """Follows live specials' topics and writes their pins; ``start`` / ``close`` pair up."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus,
        clock: Callable[[], datetime],
        *,
        limit: int = MAX_PENDING,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.clock = clock
        self.limit = limit
        self.pending: list[Moment] = []
        self.health = TaskHealth("replay-moments")
        self._followed: dict[int, Subscription] = {}
        self._calendar: Subscription | None = None
        self._wake = asyncio.Event()
        #: Held while a batch is being written: shutdown waits for it instead of cancelling
        #: a commit midway (a cancelled commit that went through would be written twice).
        self._writing = asyncio.Lock()
        self._checks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def following(self) -> set[int]:
        return set(self._followed)

    @property
    def idle(self) -> bool:
        """Nothing pending, being written or being checked (for tests and shutdown)."""
        return not self.pending and not self._writing.locked() and not self._checks

    async def start(self, board: TaskBoard | None = None) -> None:
        """Listen for status changes, follow what is live now, start the writer."""
        self._calendar = self.bus.subscribe(CALENDAR_TOPIC, self._on_calendar)
        self._writer = supervise(
            "replay-moments", self._write_loop, board=board, health=self.health
        )
        try:
            for special_id, pinned in await self._live():
                self._follow(special_id, pinned)
        except Exception:  # the database is away: the next calendar change catches up
            log.warning("replay: could not list live specials at start")

    async def close(self) -> None:
        """Stop following, then write what is pending one last time (best effort)."""
        if self._calendar is not None:
            self._calendar.close()
            self._calendar = None
        for subscription in self._followed.values():
            subscription.close()
        self._followed.clear()
        if self._checks:  # short reads: let them finish (a cancelled connect may leak)
            await asyncio.wait(list(self._checks), timeout=CLOSE_WITHIN_S)
        await cancel_and_wait(list(self._checks))
        async with self._writing:  # a write under way ends first; the writer then waits
            await cancel_and_wait([self._writer] if self._writer else [])
        try:
            await self.flush()
        except Exception:
            log.warning("replay: could not write the last %d pins at shutdown", len(self.pending))

    # -- following -------------------------------------------------------------------
    def _on_calendar(self, _topic: str, event: Event) -> None:
        special_id = event.get("special_id")
        if event.get("type") == "calendar.changed" and isinstance(special_id, int):
            task = asyncio.get_running_loop().create_task(self._check(special_id))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _check(self, special_id: int) -> None:
        try:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(specials_table.c.status, specials_table.c.pinned_product_id).where(
                            specials_table.c.id == special_id
                        )
                    )
                ).first()
        except Exception:
            log.warning("replay: could not read special %s's status", special_id)
            return
        if row is not None and row.status == "live":
            self._follow(special_id, row.pinned_product_id)
        else:
            self._unfollow(special_id)

    async def _live(self) -> list[tuple[int, int | None]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(specials_table.c.id, specials_table.c.pinned_product_id).where(
                    specials_table.c.status == "live"
                )
            )
            return [(row.id, row.pinned_product_id) for row in rows]

    def _follow(self, special_id: int, pinned: int | None) -> None:
        if special_id in self._followed:
            return
        self._followed[special_id] = self.bus.subscribe(special_topic(special_id), self._on_event)
        if pinned is not None:  # pinned before going live (or before this instance started)
            self._add(Moment(special_id, self.clock(), PINNED, pinned))

    def _unfollow(self, special_id: int) -> None:
        subscription = self._followed.pop(special_id, None)
        if subscription is not None:
            subscription.close()

    def _on_event(self, _topic: str, event: Event) -> None:
        if event.get("type") != "product.pinned":
            return
        special_id, product_id = event.get("special_id"), event.get("product_id")
        if not isinstance(special_id, int) or not isinstance(product_id, int | None):
            return
        kind = PINNED if product_id is not None else UNPINNED
        self._add(Moment(special_id, self.clock(), kind, product_id))

    def _add(self, moment: Moment) -> None:
        self.pending.append(moment)
        if len(self.pending) > self.limit:
            del self.pending[0]
            self.health.overflow += 1
        self.health.backlog = len(self.pending)
        self._wake.set()

    # -- writing ---------------------------------------------------------------------
    async def flush(self) -> None:
        """Write every pending pin in one statement; on failure they stay pending."""
        async with self._writing:
            batch, self.pending = self.pending, []
            if batch:
                try:
                    async with self.engine.begin() as conn:
                        await conn.execute(insert(moments_table), [_row(m) for m in batch])
                except BaseException:
                    self.pending[:0] = batch
                    del self.pending[: max(len(self.pending) - self.limit, 0)]
                    raise
            self.health.backlog = len(self.pending)

    async def _write_loop(self, health: TaskHealth) -> None:
        while True:
            if not self.pending:  # a restart after a failure writes what is left at once
                await self._wake.wait()
            self._wake.clear()
            await self.flush()  # raises while the database is away: restarted with backoff
            health.ok()


def _row(moment: Moment) -> dict[str, Any]:
    return {
        "special_id": moment.special_id,
        "at": moment.at,
        "kind": moment.kind,
        "product_id": moment.product_id,
    }
