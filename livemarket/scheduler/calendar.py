"""The calendar's rules, on plain objects: what makes a special (or an edit of one) acceptable.

No I/O and no clock of its own: callers pass ``now`` and the other specials that
could clash. Every broken rule raises a :class:`DomainError` with its own stable
``code`` and the offending ``field``, so the console can show the message beside
the input that caused it. Rules are checked in a fixed order and the first
violation wins, which keeps the answer deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from livemarket.config import Settings
from livemarket.errors import Conflict, DomainError
from livemarket.scheduler.lifecycle import ACTIVE, Status, check_transition

TITLE_MAX = 120
DESCRIPTION_MAX = 5000
MAX_PRODUCTS = 50
MAX_DEALS = 50
DEAL_MIN_SECONDS = 10
CHANNEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class CalendarRules:
    """The tunable limits (from settings), so rules are testable without a Settings object."""

    min_minutes: int = 10
    max_minutes: int = 240
    discount_cap_pct: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> CalendarRules:
        return cls(
            min_minutes=settings.special_min_minutes,
            max_minutes=settings.special_max_minutes,
            discount_cap_pct=settings.discount_cap_pct,
        )


@dataclass(frozen=True)
class PlannedDealDraft:
    """A flash deal planned at ``offset_s`` seconds after the special's start."""

    product_id: int
    offset_s: int
    discount_pct: int
    duration_s: int
    quantity: int
    per_buyer_limit: int = 5


@dataclass(frozen=True)
class SpecialDraft:
    """Everything an operator decides about a special (its status is not theirs to set)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    host_id: int
    channel: str = "studio-1"
    description: str = ""
    platform_id: int | None = None
    product_ids: tuple[int, ...] = ()
    deals: tuple[PlannedDealDraft, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Slot:
    """Another special's place in the calendar, as far as clashes are concerned."""

    id: int
    starts_at: datetime
    ends_at: datetime
    host_id: int
    channel: str
    status: str = Status.SCHEDULED.value
    title: str = ""


def _invalid(code: str, message: str, field_name: str) -> DomainError:
    return DomainError(code, message, field=field_name)


def _check_text(draft: SpecialDraft) -> None:
    title = draft.title.strip()
    if not title:
        raise _invalid("title_required", "a special needs a title", "title")
    if len(title) > TITLE_MAX:
        raise _invalid(
            "title_too_long", f"the title is longer than {TITLE_MAX} characters", "title"
        )
    if len(draft.description) > DESCRIPTION_MAX:
        raise _invalid(
            "description_too_long",
            f"the description is longer than {DESCRIPTION_MAX} characters",
            "description",
        )
    if not CHANNEL_PATTERN.fullmatch(draft.channel):
        raise _invalid(
            "channel_invalid",
            "the channel is 1–40 lowercase letters, digits or dashes (e.g. studio-1)",
            "channel",
        )


def _check_times(draft: SpecialDraft, rules: CalendarRules) -> None:
    for name in ("starts_at", "ends_at"):
        value: datetime = getattr(draft, name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise _invalid("naive_time", f"{name} needs a time-zone offset", name)
    if draft.ends_at <= draft.starts_at:
        raise _invalid("ends_before_start", "the end must come after the start", "ends_at")
    length = draft.ends_at - draft.starts_at
    if length < timedelta(minutes=rules.min_minutes):
        raise _invalid(
            "too_short", f"a special lasts at least {rules.min_minutes} minutes", "ends_at"
        )
    if length > timedelta(minutes=rules.max_minutes):
        raise _invalid(
            "too_long", f"a special lasts at most {rules.max_minutes} minutes", "ends_at"
        )


def _check_line_up(draft: SpecialDraft) -> None:
    if len(draft.product_ids) > MAX_PRODUCTS:
        raise _invalid(
            "too_many_products", f"a line-up holds at most {MAX_PRODUCTS} products", "product_ids"
        )
    if len(set(draft.product_ids)) != len(draft.product_ids):
        raise _invalid("duplicate_product", "a product appears twice in the line-up", "product_ids")


def _check_deal(deal: PlannedDealDraft, length_s: int, line_up: set[int], cap: int) -> None:
    if deal.product_id not in line_up:
        raise _invalid(
            "deal_product_not_in_line_up",
            "a planned deal's product must be in the special's line-up",
            "deals",
        )
    if deal.discount_pct > cap:
        raise _invalid("discount_over_cap", f"a discount is at most {cap}%", "deals")
    if deal.discount_pct < 1:
        raise _invalid("discount_invalid", "a discount is at least 1%", "deals")
    if deal.quantity < 1:
        raise _invalid("quantity_invalid", "a deal offers at least one item", "deals")
    if deal.per_buyer_limit < 1:
        raise _invalid("per_buyer_limit_invalid", "the per-buyer limit is at least 1", "deals")
    if deal.duration_s < DEAL_MIN_SECONDS:
        raise _invalid(
            "deal_too_short", f"a deal lasts at least {DEAL_MIN_SECONDS} seconds", "deals"
        )
    if deal.offset_s < 0 or deal.offset_s + deal.duration_s > length_s:
        raise _invalid(
            "deal_outside_special",
            "a planned deal must start and end inside the special",
            "deals",
        )


def _check_deals(draft: SpecialDraft, rules: CalendarRules) -> None:
    if len(draft.deals) > MAX_DEALS:
        raise _invalid("too_many_deals", f"a special plans at most {MAX_DEALS} deals", "deals")
    length_s = int((draft.ends_at - draft.starts_at).total_seconds())
    line_up = set(draft.product_ids)
    for deal in draft.deals:
        _check_deal(deal, length_s, line_up, rules.discount_cap_pct)
    # Two deals on one product at once would give it two prices.
    by_product: dict[int, list[PlannedDealDraft]] = {}
    for deal in draft.deals:
        by_product.setdefault(deal.product_id, []).append(deal)
    for deals in by_product.values():
        ordered = sorted(deals, key=lambda d: d.offset_s)
        for first, second in zip(ordered, ordered[1:], strict=False):
            if second.offset_s < first.offset_s + first.duration_s:
                raise _invalid(
                    "deal_overlap", "two planned deals on one product overlap in time", "deals"
                )


def validate_draft(draft: SpecialDraft, rules: CalendarRules) -> None:
    """Check the special on its own (text, times, length, line-up, planned deals)."""
    _check_text(draft)
    _check_times(draft, rules)
    _check_line_up(draft)
    _check_deals(draft, rules)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open slots clash when each starts before the other ends (back-to-back is fine)."""
    return a_start < b_end and b_start < a_end


def check_overlaps(draft: SpecialDraft, others: Iterable[Slot], own_id: int | None = None) -> None:
    """Raise ``host_overlap`` or ``channel_overlap`` (409) if the draft clashes with a special.

    Cancelled specials free their slot; the special being edited never clashes with itself.
    """
    for other in sorted(others, key=lambda s: s.starts_at):
        if other.id == own_id or Status(other.status) not in ACTIVE:
            continue
        if not overlaps(draft.starts_at, draft.ends_at, other.starts_at, other.ends_at):
            continue
        if other.host_id == draft.host_id:
            raise Conflict(
                "host_overlap",
                f"the host already has a special at that time ({other.title or other.id})",
                field="starts_at",
                other_id=other.id,
            )
        if other.channel == draft.channel:
            raise Conflict(
                "channel_overlap",
                f"channel {draft.channel} is taken at that time ({other.title or other.id})",
                field="channel",
                other_id=other.id,
            )


def check_create(
    draft: SpecialDraft, now: datetime, others: Sequence[Slot], rules: CalendarRules
) -> None:
    """Every rule for a new special: valid on its own, in the future, no clash."""
    validate_draft(draft, rules)
    if draft.starts_at < now:
        raise _invalid("starts_in_past", "a new special must start in the future", "starts_at")
    check_overlaps(draft, others)


#: What may still change once a special is live: its text, its end and its line-up.
_LIVE_LOCKED = ("starts_at", "host_id", "channel", "platform_id", "deals")


def check_update(
    special_id: int,
    status: Status | str,
    before: SpecialDraft,
    after: SpecialDraft,
    now: datetime,
    others: Sequence[Slot],
    rules: CalendarRules,
) -> None:
    """Every rule for editing a special in ``status`` from ``before`` into ``after``.

    Ended and cancelled specials are history and cannot change. A live special
    keeps its start, host, channel, platform and planned deals; only its text,
    line-up and end may change, and the end may not move into the past. A
    scheduled special may move anywhere in the future.
    """
    status = Status(status)
    if status in (Status.ENDED, Status.CANCELLED):
        raise Conflict("not_editable", f"a {status.value} special cannot be changed")
    if status is Status.LIVE:
        for name in _LIVE_LOCKED:
            if getattr(before, name) != getattr(after, name):
                raise Conflict(
                    "not_editable",
                    f"{name} of a live special cannot change",
                    field=name,
                )
    validate_draft(after, rules)
    if status is Status.LIVE and after.ends_at != before.ends_at and after.ends_at <= now:
        raise _invalid(
            "moved_into_past", "a live special's end cannot move into the past", "ends_at"
        )
    if status is Status.SCHEDULED and after.starts_at != before.starts_at and after.starts_at < now:
        raise _invalid("moved_into_past", "a special cannot be moved into the past", "starts_at")
    check_overlaps(after, others, own_id=special_id)


def check_delete(status: Status | str) -> None:
    """A special that went on air is history: cancel it rather than delete it."""
    status = Status(status)
    if status in (Status.LIVE, Status.ENDED):
        raise Conflict(
            "cannot_delete_started",
            f"a {status.value} special cannot be deleted; cancel it instead",
        )


def check_cancel(status: Status | str) -> None:
    """Scheduled and live specials can be cancelled; ended or cancelled ones cannot."""
    check_transition(status, Status.CANCELLED)
