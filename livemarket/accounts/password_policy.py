"""Which new passwords are refused: too short, too common, or too plain. No I/O.

As NIST SP 800-63B advises: a minimum length, a check against passwords that
attackers try first (a short list here: the leaked-password top lists' head, and
keyboard and digit runs), and a little variety (``aaaaaaaa`` and eight spaces are
refused), rather than rules demanding a digit and a symbol.
"""

from __future__ import annotations

from livemarket.errors import DomainError

MIN_PASSWORD_LENGTH = 8
#: At least this many different characters (not only spaces).
MIN_DISTINCT = 5

#: The head of the common-password lists (SecLists' top 10k, NCSC's top 100k), folded.
COMMON_PASSWORDS = frozenset(
    [
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "11111111",
        "00000000",
        "88888888",
        "87654321",
        "password",
        "password1",
        "password12",
        "password123",
        "passw0rd",
        "p@ssword",
        "p@ssw0rd",
        "qwertyuiop",
        "qwerty123",
        "qwerty12",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "qazwsxedc",
        "zaq12wsx",
        "asdfghjkl",
        "iloveyou",
        "princess",
        "sunshine",
        "football",
        "baseball",
        "superman",
        "starwars",
        "welcome1",
        "welcome123",
        "abc12345",
        "abcd1234",
        "abcdefgh",
        "a1b2c3d4",
        "aa123456",
        "letmein1",
        "trustno1",
        "whatever",
        "dragon123",
        "monkey123",
        "master123",
        "shadow123",
        "admin123",
        "administrator",
        "changeme",
        "changeme1",
        "default1",
        "computer",
        "internet",
        "michelle",
        "jennifer",
        "123123123",
        "147258369",
        "987654321",
        "123qweasd",
        "livemarket",
        "livemarket1",
        "livemarket123",
        "liveshop",
        "password!",
        "qwer1234",
        "asdf1234",
        "zxcvbnm1",
    ]
)


def _is_run(password: str) -> bool:
    """Digits or letters that only count up or down (``13579`` and ``98765`` included)."""
    codes = [ord(ch) for ch in password.casefold()]
    steps = {b - a for a, b in zip(codes, codes[1:], strict=False)}
    return len(steps) == 1 and 0 not in steps


def check_new_password(password: str, *, username: str = "") -> None:
    """Raise ``DomainError`` with a code saying why ``password`` may not be chosen."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "password_too_short", f"Passwords have at least {MIN_PASSWORD_LENGTH} characters."
        )
    folded = password.casefold()
    if (
        folded in COMMON_PASSWORDS
        or folded.strip() in COMMON_PASSWORDS
        or _is_run(password)
        or (len(username) >= 4 and username.casefold() in folded)
    ):
        raise DomainError(
            "password_too_common", "That password is among the first an attacker tries."
        )
    if len(set(password) - {" "}) < MIN_DISTINCT:
        raise DomainError(
            "password_too_plain", f"A password uses at least {MIN_DISTINCT} different characters."
        )
