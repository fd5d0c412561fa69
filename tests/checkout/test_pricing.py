"""Pricing, the discount cap, deal windows and per-buyer limits, on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from livemarket.checkout.pricing import (
    Deal,
    SpecialSlot,
    check_buyer_limit,
    deal_price,
    plan_deal,
    planned_duration_s,
    unit_price,
)
from livemarket.errors import DomainError, ErrorKind

NOW = datetime(2026, 12, 20, 11, 0, tzinfo=UTC)
LIVE = SpecialSlot("live", NOW - timedelta(minutes=30), NOW + timedelta(hours=1))


def plan(**overrides: object) -> object:
    args: dict[str, object] = {
        "special_id": 1,
        "product_id": 7,
        "original_price": 12_900,
        "stock": 100,
        "discount_pct": 30,
        "duration_s": 300,
        "quantity": 20,
        "per_buyer_limit": 2,
        "now": NOW,
        "cap_pct": 50,
        "special": LIVE,
        "early_minutes": 15,
    }
    args.update(overrides)
    return plan_deal(**args)  # type: ignore[arg-type]


def deal(**overrides: object) -> Deal:
    args: dict[str, object] = {
        "id": 3,
        "special_id": 1,
        "product_id": 7,
        "discount_pct": 30,
        "original_price": 12_900,
        "price": 9_030,
        "starts_at": NOW,
        "ends_at": NOW + timedelta(minutes=5),
        "quantity": 10,
        "sold": 0,
        "per_buyer_limit": 2,
    }
    args.update(overrides)
    return Deal(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("original", "pct", "expected"),
    [
        (12_900, 30, 9_030),  # exact
        (10_000, 50, 5_000),
        (999, 50, 500),  # 499.5: the discount is rounded down, the price up
        (12_345, 33, 8_272),  # 12345 * 0.33 = 4073.85 -> discount 4073
        (1, 50, 1),  # a one-won item cannot be discounted below one won
        (19_900, 1, 19_701),
    ],
)
def test_deal_price_rounds_the_discount_down_to_whole_won(
    original: int, pct: int, expected: int
) -> None:
    """The deal price is the list price minus the discount rounded down to whole won."""
    assert deal_price(original, pct) == expected


def test_deal_price_never_discounts_more_than_the_percentage() -> None:
    """For every price, the effective discount stays at or under the stated percentage."""
    for original in range(1, 3000, 7):
        for pct in (1, 13, 30, 50):
            price = deal_price(original, pct)
            assert (original - price) * 100 <= original * pct
            assert price >= 1


def test_cap_refuses_51_percent_with_its_own_code() -> None:
    """51% is over the 50% cap: refused as ``discount_over_cap``, a 422-kind error."""
    with pytest.raises(DomainError) as caught:
        plan(discount_pct=51)
    assert caught.value.code == "discount_over_cap"
    assert caught.value.kind is ErrorKind.INVALID


def test_cap_comes_from_settings_and_50_is_allowed() -> None:
    """The cap is the configured one: 50% passes at cap 50, 40% fails at cap 30."""
    assert plan(discount_pct=50).price == 6_450  # type: ignore[attr-defined]
    with pytest.raises(DomainError, match="30%"):
        plan(discount_pct=40, cap_pct=30)


@pytest.mark.parametrize("pct", [0, -5])
def test_zero_or_negative_discount_refused(pct: int) -> None:
    """A discount is at least 1%."""
    with pytest.raises(DomainError) as caught:
        plan(discount_pct=pct)
    assert caught.value.code == "discount_invalid"


def test_window_is_fixed_by_the_server_clock() -> None:
    """A deal starts at the server's now and ends ``duration_s`` later."""
    terms = plan(duration_s=600)
    assert terms.starts_at == NOW  # type: ignore[attr-defined]
    assert terms.ends_at == NOW + timedelta(seconds=600)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("duration_s", 5, "deal_duration_invalid"),
        ("duration_s", 5 * 3600, "deal_duration_invalid"),
        ("quantity", 0, "deal_quantity_invalid"),
        ("quantity", 101, "deal_quantity_over_stock"),
        ("per_buyer_limit", 0, "deal_limit_invalid"),
    ],
)
def test_deal_request_rules(field: str, value: int, code: str) -> None:
    """Each broken rule of a deal request has its own code."""
    with pytest.raises(DomainError) as caught:
        plan(**{field: value})
    assert caught.value.code == code


def test_deal_is_active_only_inside_its_window_and_while_units_remain() -> None:
    """Before the start, at the end, once ended early, or sold out, a deal is not active."""
    d = deal()
    assert d.is_active(NOW)
    assert d.is_active(NOW + timedelta(minutes=4, seconds=59))
    assert not d.is_active(NOW - timedelta(seconds=1))
    assert not d.is_active(NOW + timedelta(minutes=5))
    assert not deal(ended_at=NOW).is_active(NOW + timedelta(seconds=1))
    assert not deal(sold=10).is_active(NOW)


def test_unit_price_uses_the_deal_only_while_active() -> None:
    """A line gets the deal price and id while the deal is active, else the list price."""
    d = deal()
    assert unit_price(12_900, d, NOW) == (9_030, 3)
    assert unit_price(12_900, d, NOW + timedelta(minutes=6)) == (12_900, None)
    assert unit_price(12_900, None, NOW) == (12_900, None)


def test_per_buyer_limit_counts_what_the_buyer_already_holds() -> None:
    """With a limit of 2, one held plus one more passes; one held plus two is refused."""
    check_buyer_limit(1, 1, 2)
    with pytest.raises(DomainError) as caught:
        check_buyer_limit(1, 2, 2)
    assert caught.value.code == "deal_limit_reached"
    assert caught.value.details["left"] == 1


def test_started_event_carries_the_contract_fields() -> None:
    """``deal.started`` has price, original price, percentage, ISO UTC end and remaining."""
    event = deal(sold=4).started_event()
    assert event["type"] == "deal.started"
    assert event["ends_at"] == "2026-12-20T11:05:00.000+00:00"
    assert (event["price"], event["original_price"], event["discount_pct"]) == (9_030, 12_900, 30)
    assert event["remaining"] == 6


def test_a_planned_deal_started_late_ends_at_its_planned_end() -> None:
    """A planned deal the calendar starts late keeps its planned end: it runs what is left."""
    assert planned_duration_s(NOW + timedelta(minutes=3), NOW) == 180
    assert planned_duration_s(NOW + timedelta(seconds=10), NOW) == 10


def test_a_planned_deal_is_capped_at_the_longest_deal() -> None:
    """A planned window longer than a deal may last gives the longest deal (4 h)."""
    assert planned_duration_s(NOW + timedelta(hours=6), NOW) == 4 * 3600


def test_a_planned_window_almost_over_starts_no_deal() -> None:
    """Under 10 s left, or already past, there is no deal to start."""
    assert planned_duration_s(NOW + timedelta(seconds=9), NOW) is None
    assert planned_duration_s(NOW - timedelta(minutes=1), NOW) is None


def test_the_planned_window_is_measured_in_utc_whatever_the_clock_zone() -> None:
    """A clock answering in another zone measures the same instant."""
    seoul = timezone(timedelta(hours=9))
    assert planned_duration_s(NOW + timedelta(minutes=3), NOW.astimezone(seoul)) == 180
