"""Which timed jobs a special needs, derived from its row alone (pure; no scheduler here).

The runner calls :func:`plan_jobs` whenever a special may have changed and
replaces that special's jobs with the result: a move re-times them, a cancel
leaves none. Job ids are stable (``special:<id>:<action>[:<deal>]``) so
re-planning replaces rather than duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from livemarket.scheduler.lifecycle import Status

REMINDER_LEAD = timedelta(minutes=10)


class Action(StrEnum):
    REMINDER = "reminder"
    GO_LIVE = "go_live"
    DEAL = "deal"
    END = "end"


#: Jobs due at the same instant are planned in this order (go live before a deal at offset 0).
_ORDER = {Action.REMINDER: 0, Action.GO_LIVE: 1, Action.DEAL: 2, Action.END: 3}

#: What must have happened before a job can do anything: a deal starts only in a live
#: special. A timer cannot promise order (APScheduler runs jobs due at one instant
#: concurrently, ties by id, so ``deal`` before ``go_live``; another instance's clock
#: may be ahead), so the runner fires a job's prerequisites itself, first. That is
#: safe because every transition is conditional: whoever is second finds it done.
PREREQUISITES: dict[Action, tuple[Action, ...]] = {Action.DEAL: (Action.GO_LIVE,)}


@dataclass(frozen=True)
class PlannedDealTiming:
    id: int
    offset_s: int
    duration_s: int
    started: bool


@dataclass(frozen=True)
class SpecialTiming:
    id: int
    status: str
    starts_at: datetime
    ends_at: datetime
    reminder_sent: bool
    deals: Sequence[PlannedDealTiming] = ()


@dataclass(frozen=True)
class Job:
    job_id: str
    run_at: datetime
    action: Action
    special_id: int
    planned_deal_id: int | None = None

    @property
    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.run_at, _ORDER[self.action], self.job_id)


def retry_delay(attempt: int, first: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before retrying a job that failed ``attempt`` times (1, 2, ...): doubling, capped."""
    return min(first * 2 ** (attempt - 1), cap)


def job_prefix(special_id: int) -> str:
    """Every job of one special starts with this."""
    return f"special:{special_id}:"


def plan_jobs(special: SpecialTiming, reminder_lead: timedelta = REMINDER_LEAD) -> list[Job]:
    """The jobs a special still needs, in firing order (past-due ones included, for catch-up)."""
    status = Status(special.status)
    if status not in (Status.SCHEDULED, Status.LIVE):
        return []
    prefix = job_prefix(special.id)
    jobs: list[Job] = []
    if status is Status.SCHEDULED:
        if not special.reminder_sent:
            jobs.append(
                Job(
                    prefix + "reminder",
                    special.starts_at - reminder_lead,
                    Action.REMINDER,
                    special.id,
                )
            )
        jobs.append(Job(prefix + "go_live", special.starts_at, Action.GO_LIVE, special.id))
    for deal in special.deals:
        if not deal.started:
            jobs.append(
                Job(
                    f"{prefix}deal:{deal.id}",
                    special.starts_at + timedelta(seconds=deal.offset_s),
                    Action.DEAL,
                    special.id,
                    deal.id,
                )
            )
    jobs.append(Job(prefix + "end", special.ends_at, Action.END, special.id))
    return sorted(jobs, key=lambda j: j.sort_key)
