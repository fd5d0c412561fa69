"""Partner platforms (Naver, Shinsegae TV Shopping, …): the channels a special also airs on."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.errors import Conflict, NotFound
from livemarket.scheduler.models import Platform

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def platform_to_dict(platform: Platform) -> dict[str, Any]:
    return {
        "id": platform.id,
        "slug": platform.slug,
        "name": platform.name,
        "name_ko": platform.name_ko,
        "url": platform.url,
    }


async def list_platforms(session: AsyncSession) -> list[Platform]:
    return list(await session.scalars(select(Platform).order_by(Platform.id)))


async def create_platform(session: AsyncSession, **fields: str) -> Platform:
    """Add a platform; a taken slug is ``slug_taken`` (409)."""
    platform = Platform(**fields)
    session.add(platform)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("slug_taken", f"The slug {fields.get('slug')!r} is already used.") from exc
    return platform


async def update_platform(session: AsyncSession, platform_id: int, **changes: str) -> Platform:
    platform = await session.get(Platform, platform_id)
    if platform is None:
        raise NotFound("platform_not_found", f"No platform {platform_id}.")
    for name, value in changes.items():
        setattr(platform, name, value)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("slug_taken", "That slug is already used.") from exc
    return platform
