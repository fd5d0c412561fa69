"""Reading a replay: the special, its deals, pins and chat, its products now (queries).

The rules (markers, offsets, highlights) are in ``timeline.py``; this module only reads
rows and hands them over, and shapes the answer of the replay API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from livemarket.chat.models import ChatBan, ChatMessage
from livemarket.checkout.catalog import product_to_dict
from livemarket.checkout.models import FlashDeal, Product
from livemarket.replay.models import ShowMoment
from livemarket.replay.timeline import (
    ChatLine,
    DealRun,
    Marker,
    Pin,
    VideoClock,
    deal_end,
    markers,
)
from livemarket.scheduler.models import Special, SpecialProduct


@dataclass(frozen=True, slots=True)
class Show:
    """What a replay needs to know about the special itself."""

    id: int
    title: str
    status: str
    went_live_at: datetime | None
    ended_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.status == "ended"


async def show(db: AsyncSession, special_id: int) -> Show | None:
    special = await db.get(Special, special_id)
    if special is None:
        return None
    return Show(special.id, special.title, special.status, special.went_live_at, special.ended_at)


async def ended_ids(db: AsyncSession, special_ids: Sequence[int]) -> list[int]:
    """Those of ``special_ids`` that have ended (the only ones a replay can exist for)."""
    if not special_ids:
        return []
    rows = await db.scalars(
        select(Special.id).where(Special.id.in_(special_ids), Special.status == "ended")
    )
    return list(rows)


async def deal_runs(db: AsyncSession, found: Show) -> list[DealRun]:
    """The special's deals; one still open when the show ended stopped pricing then."""
    rows = await db.scalars(
        select(FlashDeal).where(FlashDeal.special_id == found.id).order_by(FlashDeal.starts_at)
    )
    return [
        DealRun(
            id=d.id,
            product_id=d.product_id,
            discount_pct=d.discount_pct,
            price=d.price,
            starts_at=d.starts_at,
            ended_at=deal_end(d.ends_at, d.ended_at, found.ended_at),
        )
        for d in rows
    ]


async def pins(db: AsyncSession, special_id: int) -> list[Pin]:
    rows = await db.execute(
        select(ShowMoment.at, ShowMoment.product_id)
        .where(ShowMoment.special_id == special_id)
        .where(ShowMoment.kind.in_(("product.pinned", "product.unpinned")))
        .order_by(ShowMoment.at, ShowMoment.id)
    )
    return [Pin(at, product_id) for at, product_id in rows]


def _visible(special_id: int) -> Any:
    """Messages everyone still sees: not deleted, and not by an author banned from the room."""
    banned = select(ChatBan.author_key).where(ChatBan.special_id == special_id)
    return (
        select(ChatMessage)
        .where(ChatMessage.special_id == special_id, ChatMessage.deleted_at.is_(None))
        .where(ChatMessage.author_key.not_in(banned))
    )


async def highlight_candidates(db: AsyncSession, special_id: int) -> list[ChatLine]:
    """Pinned and host messages only: the rule in ``timeline.highlights`` picks among them."""
    rows = await db.scalars(
        _visible(special_id)
        .where((ChatMessage.pinned.is_(True)) | (ChatMessage.role == "host"))
        .order_by(ChatMessage.id)
    )
    return [_line(row) for row in rows]


async def chat_page(
    db: AsyncSession, special_id: int, *, limit: int, offset: int
) -> list[ChatLine]:
    """``limit + 1`` visible messages from ``offset``, in time order (ids are time-ordered)."""
    rows = await db.scalars(
        _visible(special_id).order_by(ChatMessage.id).offset(offset).limit(limit + 1)
    )
    return [_line(row) for row in rows]


def _line(row: ChatMessage) -> ChatLine:
    return ChatLine(row.id, row.created_at, row.nickname, row.role, row.text, row.pinned)


async def products(db: AsyncSession, special_id: int, also: Sequence[int]) -> list[Product]:
    """The special's line-up in its order, then any other product its markers name."""
    lineup = list(
        await db.scalars(
            select(Product)
            .join(SpecialProduct, SpecialProduct.product_id == Product.id)
            .where(SpecialProduct.special_id == special_id)
            .order_by(SpecialProduct.position, Product.id)
        )
    )
    known = {p.id for p in lineup}
    extra = sorted(set(also) - known)
    if extra:
        lineup += list(await db.scalars(select(Product).where(Product.id.in_(extra))))
    return lineup


def product_now(product: Product) -> dict[str, Any]:
    """A product as the replay sells it: its current list price, and whether it can be bought."""
    out = product_to_dict(product)
    out["buyable"] = product.archived_at is None and product.stock > 0
    out["sold_out"] = product.stock <= 0
    return out


async def timeline(db: AsyncSession, found: Show, clock: VideoClock) -> list[Marker]:
    return markers(
        clock,
        deals=await deal_runs(db, found),
        pins=await pins(db, found.id),
        chat=await highlight_candidates(db, found.id),
    )


async def replay_view(
    db: AsyncSession, found: Show, clock: VideoClock, playlist_url: str
) -> dict[str, Any]:
    """The replay API's answer: where to play, what happened when, and what is for sale now."""
    marks = await timeline(db, found, clock)
    named = [m.product_id for m in marks if m.product_id is not None]
    items = [product_now(p) for p in await products(db, found.id, named)]
    return {
        "special_id": found.id,
        "title": found.title,
        "status": found.status,
        "ended_at": found.ended_at.isoformat() if found.ended_at else None,
        "playlist_url": playlist_url,
        "started_at": clock.started_at.isoformat(),
        "duration_s": round(clock.duration_s, 3),
        "markers": [m.as_json() for m in marks],
        "products": items,
        "buying_open": any(p["buyable"] for p in items),
        "deals_over": True,
        "chat_url": f"/api/v1/specials/{found.id}/replay/chat",
    }


def chat_json(line: ChatLine, clock: VideoClock) -> dict[str, Any]:
    return {
        "id": line.id,
        "nickname": line.nickname,
        "role": line.role,
        "text": line.text,
        "pinned": line.pinned,
        "at": line.at.isoformat(),
        "offset_s": clock.offset(line.at),
    }
