"""Conditional state changes: each is one ``UPDATE … WHERE <expected state>``.

Whoever runs them (the runner on any instance, a host's go-live button, an
operator's cancel) changes the row only if it is still in the expected state,
and learns from the row count whether it was the one that did. That is what
makes a job fired by two instances take effect once. Each function commits its
own short transaction and returns the fresh row when it changed something.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.scheduler.lifecycle import Status
from livemarket.scheduler.models import PlannedDeal, Special, SpecialReminder

#: How long a claim on a planned deal may stay without the deal it became. Starting
#: a deal takes milliseconds; a claim older than this was left by an instance that
#: crashed between claiming and recording, and may be claimed again.
CLAIM_LEASE = timedelta(seconds=60)


def planned_deal_settled(started_at: datetime | None, deal_id: int | None, now: datetime) -> bool:
    """Whether a planned deal needs no (more) starting: it became a deal, or a claim is fresh."""
    if deal_id is not None:
        return True
    return started_at is not None and now - started_at < CLAIM_LEASE


async def _apply(
    db: AsyncSession, special_id: int, where: Sequence[ColumnElement[bool]], **values: object
) -> Special | None:
    result = await db.execute(
        update(Special)
        .where(Special.id == special_id, *where)
        .values(version=Special.version + 1, updated_at=values.pop("now"), **values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    await db.commit()
    if not changed:
        return None
    return await db.scalar(
        select(Special).where(Special.id == special_id).execution_options(populate_existing=True)
    )


async def go_live(
    db: AsyncSession, special_id: int, now: datetime, *, early_from: datetime | None = None
) -> Special | None:
    """scheduled → live, if the slot has begun (or ``early_from`` has) and not yet ended."""
    opens = Special.starts_at <= (early_from or now)
    return await _apply(
        db,
        special_id,
        [Special.status == Status.SCHEDULED.value, opens, Special.ends_at > now],
        status=Status.LIVE.value,
        went_live_at=now,
        now=now,
    )


async def go_live_by_hand(
    db: AsyncSession, special_id: int, now: datetime, early_minutes: int
) -> Special | None:
    """scheduled → live from the studio, up to ``early_minutes`` before the start."""
    return await go_live(db, special_id, now, early_from=now + timedelta(minutes=early_minutes))


async def end_due(db: AsyncSession, special_id: int, now: datetime) -> Special | None:
    """scheduled or live → ended, once the slot is over (the clock's end or catch-up)."""
    return await _apply(
        db,
        special_id,
        [
            Special.status.in_([Status.SCHEDULED.value, Status.LIVE.value]),
            Special.ends_at <= now,
        ],
        status=Status.ENDED.value,
        ended_at=now,
        now=now,
    )


async def end_now(db: AsyncSession, special_id: int, now: datetime) -> Special | None:
    """live → ended at once (a host ends early); the slot's end stays as planned."""
    return await _apply(
        db,
        special_id,
        [Special.status == Status.LIVE.value],
        status=Status.ENDED.value,
        ended_at=now,
        now=now,
    )


async def cancel(
    db: AsyncSession, special_id: int, now: datetime, expected: Status, version: int
) -> Special | None:
    """``expected`` → cancelled, only if nobody changed the special since ``version``."""
    values: dict[str, object] = {"status": Status.CANCELLED.value}
    if expected is Status.LIVE:
        values["ended_at"] = now
    return await _apply(
        db,
        special_id,
        [Special.status == expected.value, Special.version == version],
        now=now,
        **values,
    )


async def claim_reminder(db: AsyncSession, special_id: int, now: datetime) -> list[str] | None:
    """Mark the reminder sent (once) while the special is still ahead; the viewers to tell."""
    result = await db.execute(
        update(Special)
        .where(
            Special.id == special_id,
            Special.status == Status.SCHEDULED.value,
            Special.reminder_sent_at.is_(None),
            Special.starts_at > now,
        )
        .values(reminder_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        await db.commit()
        return None
    keys = list(
        await db.scalars(
            select(SpecialReminder.viewer_key)
            .where(SpecialReminder.special_id == special_id)
            .order_by(SpecialReminder.created_at, SpecialReminder.viewer_key)
        )
    )
    await db.commit()
    return keys


async def claim_planned_deal(
    db: AsyncSession, planned_deal_id: int, now: datetime
) -> PlannedDeal | None:
    """Claim a planned deal for starting (once), if its special is live and its window is open.

    A claim left without a deal for :data:`CLAIM_LEASE` (its instance crashed
    mid-start) is taken over, so a crash never loses a planned deal.
    """
    planned = await db.get(PlannedDeal, planned_deal_id, populate_existing=True)
    if planned is None:
        return None
    special = await db.get(Special, planned.special_id, populate_existing=True)
    if special is None:
        return None
    window_end = special.starts_at + timedelta(seconds=planned.offset_s + planned.duration_s)
    if special.status != Status.LIVE.value or now >= window_end:
        await db.rollback()
        return None
    unclaimed = PlannedDeal.started_at.is_(None)
    abandoned = and_(PlannedDeal.deal_id.is_(None), PlannedDeal.started_at <= now - CLAIM_LEASE)
    result = await db.execute(
        update(PlannedDeal)
        .where(and_(PlannedDeal.id == planned_deal_id, or_(unclaimed, abandoned)))
        .values(started_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return planned


async def record_deal(
    db: AsyncSession, planned_deal_id: int, deal_id: int | None, *, failed: bool = False
) -> None:
    """Remember the flash deal a planned deal became, or release the claim if starting failed."""
    values: dict[str, object] = {"started_at": None} if failed else {"deal_id": deal_id}
    await db.execute(
        update(PlannedDeal)
        .where(PlannedDeal.id == planned_deal_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
