"""The calendar's rules on plain objects: each broken rule has its own code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from livemarket.errors import DomainError, ErrorKind
from livemarket.scheduler.calendar import (
    CalendarRules,
    PlannedDealDraft,
    Slot,
    SpecialDraft,
    check_cancel,
    check_create,
    check_delete,
    check_update,
    validate_draft,
)

RULES = CalendarRules(min_minutes=10, max_minutes=240, discount_cap_pct=50)
NOW = datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
START = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)  # 19:00 in Seoul


def draft(**changes: object) -> SpecialDraft:
    base = SpecialDraft(
        title="Jeju tangerines",
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        host_id=1,
        channel="studio-1",
        product_ids=(10, 11),
        deals=(
            PlannedDealDraft(
                product_id=10, offset_s=600, discount_pct=30, duration_s=300, quantity=20
            ),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def code_of(call: object, *args: object) -> str:
    with pytest.raises(DomainError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.code


def test_a_good_special_passes() -> None:
    """A well-formed special in the future with no clash is accepted."""
    check_create(draft(), NOW, [], RULES)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"title": "   "}, "title_required", "title"),
        ({"title": "x" * 121}, "title_too_long", "title"),
        ({"description": "x" * 5001}, "description_too_long", "description"),
        ({"channel": "Studio 1"}, "channel_invalid", "channel"),
        ({"starts_at": datetime(2026, 12, 18, 10)}, "naive_time", "starts_at"),
        ({"ends_at": START}, "ends_before_start", "ends_at"),
        ({"ends_at": START - timedelta(minutes=5)}, "ends_before_start", "ends_at"),
        ({"ends_at": START + timedelta(minutes=9)}, "too_short", "ends_at"),
        ({"ends_at": START + timedelta(minutes=241)}, "too_long", "ends_at"),
        ({"product_ids": (10, 10)}, "duplicate_product", "product_ids"),
        ({"product_ids": tuple(range(51)), "deals": ()}, "too_many_products", "product_ids"),
    ],
)
def test_each_rule_has_its_code(changes: dict[str, object], code: str, field: str) -> None:
    """Each invalid field is refused with a distinct code naming the field (422)."""
    with pytest.raises(DomainError) as info:
        validate_draft(draft(**changes), RULES)
    assert info.value.code == code
    assert info.value.details["field"] == field
    assert info.value.kind is ErrorKind.INVALID


def test_length_limits_are_inclusive() -> None:
    """Exactly the minimum and the maximum length are allowed."""
    validate_draft(draft(ends_at=START + timedelta(minutes=10), deals=()), RULES)
    validate_draft(draft(ends_at=START + timedelta(minutes=240)), RULES)


def test_length_limits_follow_the_rules() -> None:
    """The limits come from the settings, not constants."""
    strict = CalendarRules(min_minutes=30, max_minutes=60)
    with pytest.raises(DomainError, match="30 minutes"):
        validate_draft(draft(ends_at=START + timedelta(minutes=20), deals=()), strict)


def deal(**changes: object) -> PlannedDealDraft:
    base = PlannedDealDraft(product_id=10, offset_s=0, discount_pct=20, duration_s=60, quantity=5)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("planned", "code"),
    [
        ((deal(discount_pct=51),), "discount_over_cap"),
        ((deal(discount_pct=0),), "discount_invalid"),
        ((deal(quantity=0),), "quantity_invalid"),
        ((deal(per_buyer_limit=0),), "per_buyer_limit_invalid"),
        ((deal(duration_s=5),), "deal_too_short"),
        ((deal(offset_s=-1),), "deal_outside_special"),
        ((deal(offset_s=3600 - 59),), "deal_outside_special"),
        ((deal(product_id=99),), "deal_product_not_in_line_up"),
        ((deal(offset_s=0, duration_s=120), deal(offset_s=60)), "deal_overlap"),
    ],
)
def test_planned_deal_rules(planned: tuple[PlannedDealDraft, ...], code: str) -> None:
    """Planned deals fit inside the special, respect the cap and do not overlap per product."""
    assert code_of(validate_draft, draft(deals=planned), RULES) == code


def test_deal_may_end_exactly_at_the_end_and_the_cap_follows_settings() -> None:
    """A deal ending at the special's end fits; a lower cap refuses a higher discount."""
    validate_draft(draft(deals=(deal(offset_s=3540, duration_s=60),)), RULES)
    validate_draft(draft(deals=(deal(offset_s=0), deal(product_id=11, offset_s=0))), RULES)
    lower = CalendarRules(discount_cap_pct=30)
    assert code_of(validate_draft, draft(deals=(deal(discount_pct=31),)), lower) == (
        "discount_over_cap"
    )


def slot(id: int, start: datetime, minutes: int = 60, **changes: object) -> Slot:
    base = Slot(
        id=id,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        host_id=2,
        channel="studio-2",
        title="Other show",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_host_overlap_is_refused() -> None:
    """One host cannot be in two specials at once, whatever the channel."""
    with pytest.raises(DomainError) as info:
        check_create(draft(), NOW, [slot(5, START + timedelta(minutes=30), host_id=1)], RULES)
    assert info.value.code == "host_overlap"
    assert info.value.kind is ErrorKind.CONFLICT
    assert "Other show" in info.value.message


def test_channel_overlap_is_refused() -> None:
    """One channel (studio) cannot carry two specials at once."""
    others = [slot(5, START - timedelta(minutes=30), channel="studio-1")]
    assert code_of(check_create, draft(), NOW, others, RULES) == "channel_overlap"


def test_back_to_back_and_cancelled_do_not_clash() -> None:
    """Slots touching end-to-start, and cancelled specials, leave room."""
    others = [
        slot(5, START - timedelta(hours=1), host_id=1, channel="studio-1"),
        slot(6, START + timedelta(hours=1), host_id=1, channel="studio-1"),
        slot(7, START, host_id=1, channel="studio-1", status="cancelled"),
    ]
    check_create(draft(), NOW, others, RULES)


def test_new_special_must_start_in_the_future() -> None:
    """Creating a special whose start has passed is refused."""
    assert code_of(check_create, draft(), START + timedelta(minutes=1), [], RULES) == (
        "starts_in_past"
    )


def test_editing_does_not_clash_with_itself() -> None:
    """Moving a special by ten minutes does not count its old slot as a clash."""
    before = draft()
    after = draft(starts_at=START + timedelta(minutes=10), ends_at=START + timedelta(minutes=70))
    check_update(1, "scheduled", before, after, NOW, [slot(1, START, host_id=1)], RULES)


def test_scheduled_special_cannot_move_into_the_past() -> None:
    """A scheduled special's start cannot move before now."""
    later = START - timedelta(hours=2)
    after = draft(starts_at=later - timedelta(hours=1), ends_at=later)
    assert (
        code_of(
            check_update, 1, "scheduled", draft(), after, START - timedelta(minutes=5), [], RULES
        )
        == "moved_into_past"
    )


def test_live_special_keeps_its_start_and_may_not_end_in_the_past() -> None:
    """A live special's start is fixed; its end may move, but not into the past."""
    now = START + timedelta(minutes=20)
    moved = draft(starts_at=START + timedelta(minutes=5))
    assert code_of(check_update, 1, "live", draft(), moved, now, [], RULES) == "not_editable"
    ended_before = draft(ends_at=START + timedelta(minutes=15), deals=())
    assert code_of(check_update, 1, "live", draft(deals=()), ended_before, now, [], RULES) == (
        "moved_into_past"
    )
    longer = draft(ends_at=START + timedelta(minutes=90), title="Longer")
    check_update(1, "live", draft(), longer, now, [], RULES)


@pytest.mark.parametrize("status", ["ended", "cancelled"])
def test_history_cannot_be_edited(status: str) -> None:
    """Ended and cancelled specials are history."""
    assert code_of(check_update, 1, status, draft(), draft(title="New"), NOW, [], RULES) == (
        "not_editable"
    )


def test_delete_and_cancel_rules() -> None:
    """Started specials cannot be deleted (cancel instead); ended ones cannot be cancelled."""
    check_delete("scheduled")
    check_delete("cancelled")
    assert code_of(check_delete, "live") == "cannot_delete_started"
    assert code_of(check_delete, "ended") == "cannot_delete_started"
    check_cancel("scheduled")
    check_cancel("live")
    assert code_of(check_cancel, "ended") == "invalid_transition"
    assert code_of(check_cancel, "cancelled") == "invalid_transition"


def test_offsets_are_compared_as_instants() -> None:
    """A start given in Seoul time clashes with the same instant given in UTC."""
    seoul = timezone(timedelta(hours=9))
    end = START + timedelta(hours=1)
    local = draft(starts_at=START.astimezone(seoul), ends_at=end.astimezone(seoul))
    assert code_of(check_create, local, NOW, [slot(5, START, channel="studio-1")], RULES) == (
        "channel_overlap"
    )
