"""Flash-deal pricing and rules: plain functions on plain values, no I/O.

Rounding rule (the one rule): the *discount* is rounded down to whole won, so
``price = original - floor(original * pct / 100)``. The buyer's discount never
exceeds the stated percentage, which keeps the cap exact (a 50% deal on 999 won
costs 500, not 499).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from livemarket.bus import catalogue
from livemarket.errors import Conflict, DomainError

MIN_DURATION_S = 10
MAX_DURATION_S = 4 * 3600
MAX_PER_BUYER = 99


def deal_price(original_price: int, discount_pct: int) -> int:
    """The deal price in whole won (discount rounded down, see the module docstring)."""
    if original_price <= 0:
        raise DomainError("price_invalid", "a price is a positive number of won")
    return original_price - (original_price * discount_pct) // 100


def check_discount(discount_pct: int, cap_pct: int) -> None:
    """Refuse a discount outside 1..cap; over the cap has its own code."""
    if discount_pct > cap_pct:
        raise DomainError(
            "discount_over_cap", f"a discount may be at most {cap_pct}%", cap_pct=cap_pct
        )
    if discount_pct < 1:
        raise DomainError("discount_invalid", "a discount is at least 1%")


#: Special statuses in which no deal may sell any more.
CLOSED_SPECIAL = frozenset({"ended", "cancelled"})


@dataclass(frozen=True)
class SpecialSlot:
    """What a deal's window depends on: its special's status and planned slot."""

    status: str
    starts_at: datetime
    ends_at: datetime


def deal_window(
    special: SpecialSlot, now: datetime, duration_s: int, early_minutes: int
) -> tuple[datetime, datetime]:
    """When a deal asked for at ``now`` runs: from now, and never past the special's end.

    The same window a host may go live in (``scheduler.lifecycle.go_live_window``): a
    live special, or a scheduled one from ``early_minutes`` before its start, until
    its planned end. A deal is clipped to that end; under ``MIN_DURATION_S`` left,
    there is no room for one.
    """
    if special.status in CLOSED_SPECIAL:
        raise Conflict("special_closed", f"the special is {special.status}")
    opens = special.starts_at - timedelta(minutes=early_minutes)
    if special.status != "live" and now < opens:
        raise Conflict(
            "special_not_live",
            f"deals open {early_minutes} minutes before the special starts",
            opens_at=iso_utc(opens),
        )
    ends_at = min(now + timedelta(seconds=duration_s), special.ends_at)
    if ends_at - now < timedelta(seconds=MIN_DURATION_S):
        raise Conflict("special_ending", "the special's slot is over or about to end")
    return now, ends_at


def planned_duration_s(ends_at: datetime, now: datetime) -> int | None:
    """How long a planned deal started at ``now`` runs: to its planned end, at most the
    longest deal; ``None`` when under ``MIN_DURATION_S`` is left (the calendar caught up
    after the planned window was (almost) over, so no deal starts)."""
    left = int((ends_at - now.astimezone(UTC)).total_seconds())
    if left < MIN_DURATION_S:
        return None
    return min(left, MAX_DURATION_S)


@dataclass(frozen=True)
class DealTerms:
    """A deal as asked for, validated, before it has an id."""

    special_id: int
    product_id: int
    discount_pct: int
    original_price: int
    price: int
    starts_at: datetime
    ends_at: datetime
    quantity: int
    per_buyer_limit: int


def plan_deal(
    *,
    special_id: int,
    product_id: int,
    original_price: int,
    stock: int,
    discount_pct: int,
    duration_s: int,
    quantity: int,
    per_buyer_limit: int,
    now: datetime,
    cap_pct: int,
    special: SpecialSlot,
    early_minutes: int,
) -> DealTerms:
    """Validate a deal request against the rules and fix its window from ``now`` (server
    clock) inside its special's (``deal_window``)."""
    check_discount(discount_pct, cap_pct)
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise DomainError(
            "deal_duration_invalid",
            f"a deal lasts {MIN_DURATION_S} s to {MAX_DURATION_S // 3600} h",
        )
    starts_at, ends_at = deal_window(special, now, duration_s, early_minutes)
    if quantity < 1:
        raise DomainError("deal_quantity_invalid", "a deal needs at least one unit")
    if quantity > stock:
        raise Conflict(
            "deal_quantity_over_stock",
            f"only {stock} in stock; a deal cannot sell more",
            stock=stock,
        )
    if not 1 <= per_buyer_limit <= MAX_PER_BUYER:
        raise DomainError("deal_limit_invalid", f"the per-buyer limit is 1 to {MAX_PER_BUYER}")
    return DealTerms(
        special_id=special_id,
        product_id=product_id,
        discount_pct=discount_pct,
        original_price=original_price,
        price=deal_price(original_price, discount_pct),
        starts_at=starts_at,
        ends_at=ends_at,
        quantity=quantity,
        per_buyer_limit=min(per_buyer_limit, quantity),
    )


@dataclass(frozen=True)
class Deal:
    """A deal as stored: terms plus id and how many are sold."""

    id: int
    special_id: int
    product_id: int
    discount_pct: int
    original_price: int
    price: int
    starts_at: datetime
    ends_at: datetime
    quantity: int
    sold: int
    per_buyer_limit: int
    ended_at: datetime | None = None
    ended_reason: str | None = None

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.sold, 0)

    def is_active(self, now: datetime) -> bool:
        """Open for buying at ``now``: started, not past its end, not ended, not sold out."""
        return self.ended_at is None and self.starts_at <= now < self.ends_at and self.remaining > 0

    def in_window(self, now: datetime) -> bool:
        """Not ended and ``now`` inside its window; whether units remain is the ledger's call."""
        return self.ended_at is None and self.starts_at <= now < self.ends_at

    def with_remaining(self, remaining: int) -> Deal:
        return replace(self, sold=self.quantity - remaining)

    def started_event(self) -> catalogue.DealStarted:
        """The contract's ``deal.started`` frame."""
        return catalogue.DealStarted(
            type=catalogue.DEAL_STARTED,
            deal_id=self.id,
            special_id=self.special_id,
            product_id=self.product_id,
            price=self.price,
            original_price=self.original_price,
            discount_pct=self.discount_pct,
            starts_at=iso_utc(self.starts_at),
            ends_at=iso_utc(self.ends_at),
            remaining=self.remaining,
            quantity=self.quantity,
            per_buyer_limit=self.per_buyer_limit,
        )

    def ended_event(self, reason: str) -> catalogue.DealEnded:
        """The ``deal.ended`` frame (reason: ``ended`` early, ``expired``, ``sold_out``)."""
        return catalogue.DealEnded(
            type=catalogue.DEAL_ENDED,
            deal_id=self.id,
            special_id=self.special_id,
            product_id=self.product_id,
            reason=reason,
            sold=self.sold,
        )


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with an explicit ``+00:00`` offset, millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def unit_price(
    list_price: int, deal: Deal | None, now: datetime, special_status: str | None = None
) -> tuple[int, int | None]:
    """The price a line gets at ``now``: the deal's inside its window while its special
    is not over (``special_status``), else the list price.

    A deal in its window whose units are gone is not silently replaced by the list
    price: the ledger refuses it as ``deal_sold_out`` and the buyer decides.
    """
    if deal is not None and deal.in_window(now) and special_status not in CLOSED_SPECIAL:
        return deal.price, deal.id
    return list_price, None


def check_buyer_limit(already: int, requested: int, limit: int) -> None:
    """Refuse when a buyer's units in one deal would pass its per-buyer limit."""
    if already + requested > limit:
        left = max(limit - already, 0)
        raise Conflict(
            "deal_limit_reached",
            f"at most {limit} per buyer in this deal; {left} left for you",
            limit=limit,
            left=left,
        )
