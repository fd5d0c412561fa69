"""Buyer details in Korean formats."""

from __future__ import annotations

import pytest

from livemarket.checkout.buyer import validate_buyer
from livemarket.checkout.states import check_transition
from livemarket.errors import DomainError

ADDRESS = "서울특별시 중구 세종대로 110, 101동 202호"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010-1234-5678", "010-1234-5678"),
        ("01012345678", "010-1234-5678"),
        ("+82 10 1234 5678", "010-1234-5678"),
        ("02-123-4567", "02-123-4567"),
        ("031-1234-5678", "031-1234-5678"),
    ],
)
def test_phone_numbers_are_normalised(raw: str, expected: str) -> None:
    """Mobile and area-code numbers in common spellings become the dashed form."""
    assert validate_buyer("김민수", raw, ADDRESS).phone == expected


@pytest.mark.parametrize("raw", ["12345", "010-12-5678", "+1 415 555 0100", "010-1234-56789"])
def test_bad_phone_numbers_refused(raw: str) -> None:
    """A number that is not Korean is refused with ``buyer_phone_invalid``."""
    with pytest.raises(DomainError) as caught:
        validate_buyer("김민수", raw, ADDRESS)
    assert caught.value.code == "buyer_phone_invalid"


@pytest.mark.parametrize("name", ["김", "<script>", "A" * 31, "Kim\x00"])
def test_bad_names_refused(name: str) -> None:
    """Too short, too long, or markup/control characters in a name are refused."""
    with pytest.raises(DomainError) as caught:
        validate_buyer(name, "010-1234-5678", ADDRESS)
    assert caught.value.code == "buyer_name_invalid"


def test_refused_details_are_refused_again_and_valid_ones_give_the_same_buyer() -> None:
    """Validation is cached for speed: a refusal must not be remembered as a pass."""
    for _attempt in range(2):
        with pytest.raises(DomainError):
            validate_buyer("김민수", "12345", ADDRESS)
    first = validate_buyer("김민수", "01012345678", ADDRESS)
    assert validate_buyer("김민수", "01012345678", ADDRESS) == first
    assert first.phone == "010-1234-5678"


def test_names_in_hangul_and_latin_pass_and_are_tidied() -> None:
    """Hangul and Latin names pass, with runs of spaces collapsed."""
    assert validate_buyer("  Jane   Doe ", "010-1234-5678", ADDRESS).name == "Jane Doe"
    assert validate_buyer("이서연", "010-1234-5678", ADDRESS).name == "이서연"


@pytest.mark.parametrize(
    "address", ["서울", "서울특별시 중구 세종대로", "x" * 201, "서울 중구 1\x07번지"]
)
def test_bad_addresses_refused(address: str) -> None:
    """Too short, without a number, too long, or with control characters: refused."""
    with pytest.raises(DomainError) as caught:
        validate_buyer("김민수", "010-1234-5678", address)
    assert caught.value.code == "buyer_address_invalid"


def test_order_transitions() -> None:
    """reserved→paid→fulfilled is allowed, repeating is a no-op, going back is refused."""
    assert check_transition("reserved", "paid") is True
    assert check_transition("paid", "paid") is False
    assert check_transition("paid", "fulfilled") is True
    with pytest.raises(DomainError) as caught:
        check_transition("expired", "paid")
    assert caught.value.code == "order_expired"
