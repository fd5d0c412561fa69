"""The calendar's read side: specials as the contract shapes them, with their line-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.errors import NotFound
from livemarket.scheduler.calendar import PlannedDealDraft, Slot, SpecialDraft
from livemarket.scheduler.lifecycle import Status
from livemarket.scheduler.models import PlannedDeal, Special, SpecialProduct


def special_to_dict(special: Special, product_ids: Sequence[int]) -> dict[str, Any]:
    """The contract's special shape; times ISO-8601 in UTC with offset."""
    return {
        "id": special.id,
        "title": special.title,
        "description": special.description,
        "starts_at": special.starts_at.isoformat(),
        "ends_at": special.ends_at.isoformat(),
        "status": special.status,
        "host_id": special.host_id,
        "platform_id": special.platform_id,
        "channel": special.channel,
        "product_ids": list(product_ids),
        "pinned_product_id": special.pinned_product_id,
        "version": special.version,
        "went_live_at": special.went_live_at.isoformat() if special.went_live_at else None,
        "ended_at": special.ended_at.isoformat() if special.ended_at else None,
    }


async def lineups(session: AsyncSession, special_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each special's product ids in line-up order, in one query."""
    result: dict[int, list[int]] = defaultdict(list)
    if not special_ids:
        return result
    rows = await session.execute(
        select(SpecialProduct.special_id, SpecialProduct.product_id)
        .where(SpecialProduct.special_id.in_(special_ids))
        .order_by(SpecialProduct.special_id, SpecialProduct.position, SpecialProduct.product_id)
    )
    for special_id, product_id in rows:
        result[special_id].append(product_id)
    return result


async def list_specials(
    session: AsyncSession,
    *,
    limit: int,
    offset: int = 0,
    status: str | None = None,
    host_id: int | None = None,
    platform_id: int | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> list[Special]:
    """Specials ordered by start; ``limit`` + 1 of them, so the caller sees if more follow."""
    query = select(Special).order_by(Special.starts_at, Special.id).limit(limit + 1).offset(offset)
    if status is not None:
        query = query.where(Special.status == status)
    if host_id is not None:
        query = query.where(Special.host_id == host_id)
    if platform_id is not None:
        query = query.where(Special.platform_id == platform_id)
    if starts_from is not None:
        query = query.where(Special.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Special.starts_at < starts_before)
    return list(await session.scalars(query))


async def get_special(session: AsyncSession, special_id: int) -> Special:
    special = await session.get(Special, special_id)
    if special is None:
        raise NotFound("special_not_found", f"No special {special_id}.")
    return special


async def special_dicts(session: AsyncSession, specials: Sequence[Special]) -> list[dict[str, Any]]:
    """Contract shapes for ``specials`` with their line-ups and planned deals (two queries)."""
    ids = [s.id for s in specials]
    by_special = await lineups(session, ids)
    deals = await planned_deals(session, ids)
    items = []
    for special in specials:
        item = special_to_dict(special, by_special.get(special.id, []))
        item["deals"] = [planned_deal_to_dict(p) for p in deals.get(special.id, [])]
        items.append(item)
    return items


def planned_deal_to_dict(planned: PlannedDeal) -> dict[str, Any]:
    """A planned flash deal: product, offset from the start, discount, duration, quantity."""
    return {
        "id": planned.id,
        "product_id": planned.product_id,
        "offset_s": planned.offset_s,
        "discount_pct": planned.discount_pct,
        "duration_s": planned.duration_s,
        "quantity": planned.quantity,
        "per_buyer_limit": planned.per_buyer_limit,
        "deal_id": planned.deal_id,
        "started_at": planned.started_at.isoformat() if planned.started_at else None,
    }


async def planned_deals(
    session: AsyncSession, special_ids: Sequence[int]
) -> dict[int, list[PlannedDeal]]:
    """Each special's planned deals ordered by offset, in one query."""
    result: dict[int, list[PlannedDeal]] = defaultdict(list)
    if not special_ids:
        return result
    rows = await session.scalars(
        select(PlannedDeal)
        .where(PlannedDeal.special_id.in_(special_ids))
        .order_by(PlannedDeal.special_id, PlannedDeal.offset_s, PlannedDeal.id)
    )
    for planned in rows:
        result[planned.special_id].append(planned)
    return result


async def draft_of(session: AsyncSession, special: Special) -> SpecialDraft:
    """The operator-editable part of a stored special, to compare an edit against."""
    line_up = (await lineups(session, [special.id])).get(special.id, [])
    deals = (await planned_deals(session, [special.id])).get(special.id, [])
    return SpecialDraft(
        title=special.title,
        description=special.description,
        starts_at=special.starts_at,
        ends_at=special.ends_at,
        host_id=special.host_id,
        platform_id=special.platform_id,
        channel=special.channel,
        product_ids=tuple(line_up),
        deals=tuple(
            PlannedDealDraft(
                product_id=p.product_id,
                offset_s=p.offset_s,
                discount_pct=p.discount_pct,
                duration_s=p.duration_s,
                quantity=p.quantity,
                per_buyer_limit=p.per_buyer_limit,
            )
            for p in deals
        ),
    )


async def clashing_slots(
    session: AsyncSession, draft: SpecialDraft, own_id: int | None = None
) -> list[Slot]:
    """Specials that share the draft's host or channel and overlap its time (not cancelled)."""
    query = select(Special).where(
        Special.status != Status.CANCELLED.value,
        Special.starts_at < draft.ends_at,
        Special.ends_at > draft.starts_at,
        or_(Special.host_id == draft.host_id, Special.channel == draft.channel),
    )
    if own_id is not None:
        query = query.where(Special.id != own_id)
    return [
        Slot(
            id=s.id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            host_id=s.host_id,
            channel=s.channel,
            status=s.status,
            title=s.title,
        )
        for s in await session.scalars(query)
    ]
