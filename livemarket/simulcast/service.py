"""Destinations in the database: add, list, edit, remove, and which ones a special airs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.errors import DomainError, NotFound
from livemarket.scheduler.models import Platform, Special
from livemarket.simulcast.keys import StreamKeyBox, tail
from livemarket.simulcast.models import SimulcastDestination
from livemarket.simulcast.rules import check_ingest_url, check_stream_key


def destination_to_dict(destination: SimulcastDestination) -> dict[str, Any]:
    """The public view: never the stream key, only its last four characters."""
    return {
        "id": destination.id,
        "name": destination.name,
        "platform_id": destination.platform_id,
        "special_id": destination.special_id,
        "url": destination.url,
        "stream_key_tail": destination.key_tail,
        "enabled": destination.enabled,
        "created_at": destination.created_at.isoformat(),
    }


async def list_destinations(session: AsyncSession) -> list[SimulcastDestination]:
    return list(
        await session.scalars(select(SimulcastDestination).order_by(SimulcastDestination.id))
    )


async def _check_targets(
    session: AsyncSession, platform_id: int | None, special_id: int | None
) -> None:
    if platform_id is None and special_id is None:
        raise DomainError("target_missing", "Give a platform_id, a special_id or both.")
    if platform_id is not None and await session.get(Platform, platform_id) is None:
        raise DomainError("platform_not_found", f"No platform {platform_id}.")
    if special_id is not None and await session.get(Special, special_id) is None:
        raise DomainError("special_not_found", f"No special {special_id}.")


async def create_destination(
    session: AsyncSession,
    box: StreamKeyBox,
    *,
    name: str,
    url: str,
    stream_key: str,
    platform_id: int | None = None,
    special_id: int | None = None,
    enabled: bool = True,
) -> SimulcastDestination:
    """Validate and store; the key is sealed before it reaches the database."""
    url = check_ingest_url(url)
    check_stream_key(stream_key)
    await _check_targets(session, platform_id, special_id)
    destination = SimulcastDestination(
        name=name,
        url=url,
        key_cipher=box.seal(stream_key),
        key_tail=tail(stream_key),
        platform_id=platform_id,
        special_id=special_id,
        enabled=enabled,
    )
    session.add(destination)
    await session.commit()
    return destination


async def get_destination(session: AsyncSession, destination_id: int) -> SimulcastDestination:
    destination = await session.get(SimulcastDestination, destination_id)
    if destination is None:
        raise NotFound("destination_not_found", f"No simulcast destination {destination_id}.")
    return destination


async def update_destination(
    session: AsyncSession, box: StreamKeyBox, destination_id: int, **changes: Any
) -> SimulcastDestination:
    """Apply ``changes`` (all validated before anything is written)."""
    destination = await get_destination(session, destination_id)
    if "url" in changes:
        changes["url"] = check_ingest_url(changes["url"])
    stream_key = changes.pop("stream_key", None)
    if stream_key is not None:
        check_stream_key(stream_key)
    platform_id = changes.get("platform_id", destination.platform_id)
    special_id = changes.get("special_id", destination.special_id)
    await _check_targets(session, platform_id, special_id)
    for name, value in changes.items():
        setattr(destination, name, value)
    if stream_key is not None:
        destination.key_cipher = box.seal(stream_key)
        destination.key_tail = tail(stream_key)
    await session.commit()
    return destination


async def delete_destination(session: AsyncSession, destination_id: int) -> None:
    await session.delete(await get_destination(session, destination_id))
    await session.commit()


async def destinations_for_special(
    session: AsyncSession, special_id: int
) -> list[SimulcastDestination]:
    """Enabled destinations of the special itself and of its partner platform."""
    special = await session.get(Special, special_id)
    if special is None:
        return []
    clauses = [SimulcastDestination.special_id == special_id]
    if special.platform_id is not None:
        clauses.append(
            (SimulcastDestination.platform_id == special.platform_id)
            & SimulcastDestination.special_id.is_(None)
        )
    query = (
        select(SimulcastDestination)
        .where(SimulcastDestination.enabled.is_(True), or_(*clauses))
        .order_by(SimulcastDestination.id)
    )
    return list(await session.scalars(query))
