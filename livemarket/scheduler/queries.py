"""The calendar's read side: specials as the contract shapes them, with their line-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.errors import NotFound
from livemarket.scheduler.models import Special, SpecialProduct


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
    """Specials ordered by start, ``limit`` + 1 of them so the caller can tell whether more follow."""
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
    """Contract shapes for ``specials`` with their line-ups loaded in one query."""
    by_special = await lineups(session, [s.id for s in specials])
    return [special_to_dict(s, by_special.get(s.id, [])) for s in specials]
