"""The calendar's write side: thin I/O around the rules in ``calendar.py``.

Each write is one transaction: read what the rules need, check them, write,
commit, then publish. Writes to the calendar are serialized (an advisory lock on
PostgreSQL, the database's write lock plus a process lock on SQLite) so two
operators cannot both squeeze a special into the same free slot. Edits carry the
version the operator saw; a stale one is refused (412 via ``If-Match``, 409 via
the body's ``version``) instead of silently overwriting someone else's change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket import versions
from livemarket.accounts.models import User
from livemarket.bus.events import CALENDAR_TOPIC, EventBus, special_topic
from livemarket.checkout.models import Product
from livemarket.errors import Conflict, DomainError, ErrorKind, Forbidden
from livemarket.scheduler import calendar, lifecycle, transitions
from livemarket.scheduler.calendar import CalendarRules, SpecialDraft
from livemarket.scheduler.events import calendar_changed, status_event
from livemarket.scheduler.lifecycle import Status
from livemarket.scheduler.models import (
    PlannedDeal,
    Platform,
    Special,
    SpecialProduct,
    SpecialReminder,
)
from livemarket.scheduler.queries import clashing_slots, draft_of, get_special, special_dicts
from livemarket.storage.base import utcnow

log = logging.getLogger(__name__)

#: Any constant works; it only has to be the same for every writer of the calendar.
_CALENDAR_LOCK_KEY = 0x4C4D_4341  # "LMCA"
#: Fields an operator may change with PATCH (``status`` only to ``cancelled``).
EDITABLE = frozenset(
    {
        "title",
        "description",
        "starts_at",
        "ends_at",
        "host_id",
        "platform_id",
        "channel",
        "product_ids",
        "deals",
    }
)


@dataclass(frozen=True)
class Actor:
    """Who asks for a studio action: a user id and whether they are an operator."""

    user_id: int
    is_operator: bool = False


def check_version(current: int, expected: int | None, *, from_header: bool) -> None:
    """Refuse a write based on a stale version of a special (see ``livemarket.versions``)."""
    versions.check_version(current, expected, from_header=from_header, what="special")


class CalendarService:
    """Create, edit, cancel and delete specials; go live and end from the studio."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        clock: Any,
        rules: CalendarRules,
        *,
        go_live_early_minutes: int = 15,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._rules = rules
        self._early = go_live_early_minutes
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """One serialized write transaction; committed by the caller, rolled back on error."""
        async with self._lock, self._sessions() as db:
            if db.get_bind().dialect.name == "postgresql":
                await db.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CALENDAR_LOCK_KEY}
                )
            yield db  # closing the session rolls back whatever was not committed

    async def _check_references(self, db: AsyncSession, draft: SpecialDraft) -> None:
        host_role = await db.scalar(select(User.role).where(User.id == draft.host_id))
        if host_role != "host":
            raise DomainError("host_not_found", "no host with that id", field="host_id")
        if draft.platform_id is not None and await db.get(Platform, draft.platform_id) is None:
            raise DomainError(
                "platform_not_found", "no partner platform with that id", field="platform_id"
            )
        if draft.product_ids:
            found = await db.scalar(
                select(func.count()).select_from(Product).where(Product.id.in_(draft.product_ids))
            )
            if found != len(set(draft.product_ids)):
                raise DomainError(
                    "product_not_found",
                    "a product in the line-up does not exist",
                    field="product_ids",
                )

    async def _write_children(
        self, db: AsyncSession, special_id: int, draft: SpecialDraft, fields: set[str]
    ) -> None:
        if "product_ids" in fields:
            await db.execute(delete(SpecialProduct).where(SpecialProduct.special_id == special_id))
            db.add_all(
                SpecialProduct(special_id=special_id, product_id=pid, position=i)
                for i, pid in enumerate(draft.product_ids)
            )
        if "deals" in fields:
            await db.execute(delete(PlannedDeal).where(PlannedDeal.special_id == special_id))
            db.add_all(
                PlannedDeal(
                    special_id=special_id,
                    product_id=d.product_id,
                    offset_s=d.offset_s,
                    discount_pct=d.discount_pct,
                    duration_s=d.duration_s,
                    quantity=d.quantity,
                    per_buyer_limit=d.per_buyer_limit,
                )
                for d in draft.deals
            )

    async def _dict(self, db: AsyncSession, special_id: int) -> dict[str, Any]:
        special = await db.scalar(
            select(Special)
            .where(Special.id == special_id)
            .execution_options(populate_existing=True)
        )
        if special is None:
            raise DomainError("special_not_found", "no such special", kind=ErrorKind.NOT_FOUND)
        (item,) = await special_dicts(db, [special])
        return item

    async def _announce(self, special: Any, action: str) -> None:
        await self._bus.publish(special_topic(special.id), status_event(special))
        await self._bus.publish(CALENDAR_TOPIC, calendar_changed(special.id, action))

    async def create(self, draft: SpecialDraft) -> dict[str, Any]:
        """Add a special to the calendar after checking every rule; returns its contract shape."""
        draft = replace(draft, title=draft.title.strip())
        async with self._write() as db:
            calendar.validate_draft(draft, self._rules)
            await self._check_references(db, draft)
            others = await clashing_slots(db, draft)
            calendar.check_create(draft, self._clock(), others, self._rules)
            special = Special(
                title=draft.title,
                description=draft.description,
                starts_at=draft.starts_at,
                ends_at=draft.ends_at,
                host_id=draft.host_id,
                platform_id=draft.platform_id,
                channel=draft.channel,
                status=Status.SCHEDULED.value,
                version=1,
            )
            db.add(special)
            await db.flush()
            await self._write_children(db, special.id, draft, {"product_ids", "deals"})
            await db.commit()
            item = await self._dict(db, special.id)
        await self._announce(special, "created")
        return item

    async def update(
        self,
        special_id: int,
        changes: Mapping[str, Any],
        version: int | None = None,
        *,
        from_header: bool = False,
    ) -> dict[str, Any]:
        """Apply a partial edit (a move edits the times); ``version`` guards lost updates."""
        unknown = set(changes) - EDITABLE
        if unknown:
            name = sorted(unknown)[0]
            raise DomainError("field_not_editable", f"{name} cannot be changed here", field=name)
        async with self._write() as db:
            special = await get_special(db, special_id)
            check_version(special.version, version, from_header=from_header)
            if not changes:  # nothing to change: no new version, no events
                return await self._dict(db, special_id)
            before = await draft_of(db, special)
            after = replace(before, **dict(changes))
            after = replace(after, title=after.title.strip())
            others = await clashing_slots(db, after, own_id=special_id)
            calendar.check_update(
                special_id, special.status, before, after, self._clock(), others, self._rules
            )
            await self._check_references(db, after)
            values: dict[str, Any] = {
                name: getattr(after, name)
                for name in changes
                if name not in ("product_ids", "deals")
            }
            if after.starts_at != before.starts_at:
                values["reminder_sent_at"] = None  # a moved show gets its reminder again
            result = await db.execute(
                update(Special)
                .where(Special.id == special_id, Special.version == special.version)
                .values(version=Special.version + 1, updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict("version_conflict", "the special changed meanwhile; reload")
            await self._write_children(db, special_id, after, set(changes))
            await db.commit()
            item = await self._dict(db, special_id)
            fresh = await get_special(db, special_id)
        await self._announce(fresh, "updated")
        return item

    async def cancel(
        self, special_id: int, version: int | None = None, *, from_header: bool = False
    ) -> dict[str, Any]:
        """Cancel a scheduled or live special (it stays in the calendar, marked cancelled)."""
        async with self._write() as db:
            special = await get_special(db, special_id)
            check_version(special.version, version, from_header=from_header)
            calendar.check_cancel(special.status)
            done = await transitions.cancel(
                db, special_id, self._clock(), Status(special.status), special.version
            )
            if done is None:
                raise Conflict("version_conflict", "the special changed meanwhile; reload")
            item = await self._dict(db, special_id)
        await self._announce(done, "cancelled")
        return item

    async def delete(
        self, special_id: int, version: int | None = None, *, from_header: bool = False
    ) -> None:
        """Remove a special that never went on air; started ones must be cancelled instead."""
        async with self._write() as db:
            special = await get_special(db, special_id)
            check_version(special.version, version, from_header=from_header)
            calendar.check_delete(special.status)
            try:
                result = await db.execute(
                    delete(Special)
                    .where(
                        Special.id == special_id,
                        Special.version == special.version,
                        Special.status.in_([Status.SCHEDULED.value, Status.CANCELLED.value]),
                    )
                    .execution_options(synchronize_session=False)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    raise Conflict("version_conflict", "the special changed meanwhile; reload")
                await db.commit()
            except IntegrityError as exc:  # orders or flash deals point at it
                raise Conflict(
                    "special_in_use", "orders or deals refer to this special; cancel it instead"
                ) from exc
        await self._bus.publish(CALENDAR_TOPIC, calendar_changed(special_id, "deleted"))

    async def _own_special(self, db: AsyncSession, special_id: int, actor: Actor) -> Special:
        special = await get_special(db, special_id)
        if not actor.is_operator and special.host_id != actor.user_id:
            raise Forbidden("not_your_special", "only this special's host may do that")
        return special

    async def go_live(self, special_id: int, actor: Actor) -> dict[str, Any]:
        """The host starts the show by hand, up to ``go_live_early_minutes`` early."""
        now = self._clock()
        async with self._sessions() as db:
            special = await self._own_special(db, special_id, actor)
            lifecycle.check_go_live(
                special.status, now, special.starts_at, special.ends_at, self._early
            )
            done = await transitions.go_live_by_hand(db, special_id, now, self._early)
            if done is None:
                raise Conflict("invalid_transition", "the special is no longer scheduled")
            item = await self._dict(db, special_id)
        await self._announce(done, "status")
        return item

    async def end(self, special_id: int, actor: Actor) -> dict[str, Any]:
        """The host ends a live show early; the calendar keeps the planned slot and the real end."""
        async with self._sessions() as db:
            special = await self._own_special(db, special_id, actor)
            lifecycle.check_end(special.status)
            done = await transitions.end_now(db, special_id, self._clock())
            if done is None:
                raise Conflict("not_live", "the special is no longer live")
            item = await self._dict(db, special_id)
        await self._announce(done, "status")
        return item

    async def remind(self, special_id: int, viewer_key: str, *, on: bool = True) -> bool:
        """Ask (or stop asking) to be reminded before a scheduled special; idempotent."""
        async with self._sessions() as db:
            special = await get_special(db, special_id)
            existing = await db.get(SpecialReminder, (special_id, viewer_key))
            if on:
                if special.status != Status.SCHEDULED.value:
                    raise Conflict("not_upcoming", "only an upcoming special can be reminded of")
                if existing is None:
                    db.add(SpecialReminder(special_id=special_id, viewer_key=viewer_key))
            elif existing is not None:
                await db.delete(existing)
            try:
                await db.commit()
            except IntegrityError:  # the same viewer asked twice at once: already recorded
                await db.rollback()
        return on
