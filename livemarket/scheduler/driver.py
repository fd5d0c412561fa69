"""What wakes the runner at a job's time: APScheduler in production, a manual driver in tests.

APScheduler 3.11's ``AsyncIOScheduler`` has sharp edges this module absorbs:

- ``start()`` must run inside the loop (it captures the running loop), and
  ``shutdown()`` only *schedules* itself with ``call_soon_threadsafe``: we yield
  once after it so it has really stopped before the loop goes on.
- Its asyncio executor cancels running coroutine jobs on shutdown without
  awaiting them; the runner therefore tracks and awaits its own job tasks.
- The default ``misfire_grace_time`` is one second: a job whose loop tick came
  late would be skipped silently. We set it to ``None`` (always run) because
  every job re-checks the database before acting.
- Ids must be unique; ``replace_existing=True`` makes re-planning idempotent.
- Jobs due at the same instant are submitted in job-id order and then run
  concurrently, so nothing may assume an order between them (``…:deal:7`` sorts
  before ``…:go_live``): the runner fires a job's prerequisites itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

JobFunc = Callable[[], Awaitable[None]]


class JobDriver(Protocol):
    def put(self, job_id: str, run_at: datetime, func: JobFunc) -> None:
        """Run ``func`` at ``run_at`` (replacing a job with the same id)."""

    def remove_prefix(self, prefix: str) -> None:
        """Forget every job whose id starts with ``prefix``."""

    def jobs(self) -> dict[str, datetime]:
        """Pending jobs by id, with their run times."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class APSchedulerDriver:
    """Jobs as one-shot ``DateTrigger`` jobs on an ``AsyncIOScheduler`` in the app's loop."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def put(self, job_id: str, run_at: datetime, func: JobFunc) -> None:
        self._scheduler.add_job(
            func, DateTrigger(run_date=run_at, timezone=UTC), id=job_id, replace_existing=True
        )

    def remove_prefix(self, prefix: str) -> None:
        for job in self._scheduler.get_jobs():
            if job.id.startswith(prefix):
                job.remove()

    def jobs(self) -> dict[str, datetime]:
        return {
            job.id: job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None
        }

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # let the scheduled _shutdown run


class ManualDriver:
    """Holds jobs until told what time it is: tests move a fake clock and call :meth:`run_due`."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[datetime, JobFunc]] = {}

    def put(self, job_id: str, run_at: datetime, func: JobFunc) -> None:
        # Re-inserted at the end: ties run in the order the runner planned them.
        self._jobs.pop(job_id, None)
        self._jobs[job_id] = (run_at, func)

    def remove_prefix(self, prefix: str) -> None:
        for job_id in [j for j in self._jobs if j.startswith(prefix)]:
            del self._jobs[job_id]

    def jobs(self) -> dict[str, datetime]:
        return {job_id: run_at for job_id, (run_at, _) in self._jobs.items()}

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._jobs.clear()

    async def run_due(self, now: datetime) -> int:
        """Run, in time order, every job due at ``now``; returns how many ran."""
        due = sorted(
            ((run_at, job_id) for job_id, (run_at, _) in self._jobs.items() if run_at <= now),
            key=lambda item: item[0],  # stable: same-time jobs keep their planned order
        )
        for _, job_id in due:
            entry = self._jobs.pop(job_id, None)
            if entry is not None:
                await entry[1]()
        return len(due)
