"""New passwords: long enough, not among the first guesses, not one repeated character."""

from __future__ import annotations

import pytest

from livemarket.accounts.password_policy import check_new_password
from livemarket.accounts.service import validate_new_user
from livemarket.errors import DomainError


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("12345678", "password_too_common"),
        ("Password1", "password_too_common"),
        (" qwerty123 ", "password_too_common"),
        ("abcdefghij", "password_too_common"),
        ("9876543210", "password_too_common"),
        ("olivia-2026", "password_too_common"),
        ("        ", "password_too_plain"),
        ("aaaaaaaaaaaa", "password_too_plain"),
        ("abab abab abab", "password_too_plain"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, code: str) -> None:
    """Each weak password is refused with the code that says why."""
    with pytest.raises(DomainError) as refused:
        check_new_password(password, username="olivia")
    assert refused.value.code == code


@pytest.mark.parametrize("password", ["correct horse battery", "s3cret-pass", "Tq8#vLm2"])
def test_ordinary_good_passwords_pass(password: str) -> None:
    """Passphrases and mixed passwords pass (no rule demands a symbol)."""
    check_new_password(password, username="olivia")
    assert validate_new_user("olivia", password, "host").value == "host"


def test_account_creation_applies_the_policy() -> None:
    """Creating a user refuses a common password before touching the database."""
    with pytest.raises(DomainError) as refused:
        validate_new_user("olivia", "12345678", "operator")
    assert refused.value.code == "password_too_common"
