"""Buyer details in Korean formats: name, phone number, delivery address. No I/O."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from livemarket.errors import DomainError

# Mobile 010/011/016-019 and area codes (02 Seoul, 031-064) with 3-4 + 4 digits.
_PHONE = re.compile(r"^(01[016789]|02|0[3-6][1-5]|070)(\d{3,4})(\d{4})$")
_NAME = re.compile(r"^[A-Za-z\uac00-\ud7a3][A-Za-z\uac00-\ud7a3 .'\-]*$")
_PHONE_NOISE = re.compile(r"[\s\-.()]")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[\uac00-\ud7a3A-Za-z]")
NAME_MAX = 30
ADDRESS_MIN = 8
ADDRESS_MAX = 200


@dataclass(frozen=True)
class Buyer:
    name: str
    phone: str
    address: str


def _no_controls(value: str) -> bool:
    if value.isprintable():  # the usual case, in C: no control or format character
        return True
    return not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in value)


def normalize_phone(raw: str) -> str:
    """``01012345678`` / ``010 1234 5678`` / ``+82 10-1234-5678`` → ``010-1234-5678``."""
    digits = _PHONE_NOISE.sub("", raw.strip())
    if digits.startswith("+82"):
        digits = "0" + digits[3:]
    match = _PHONE.match(digits)
    if not match:
        raise DomainError("buyer_phone_invalid", "enter a Korean phone number, e.g. 010-1234-5678")
    return "-".join(match.groups())


@functools.lru_cache(maxsize=4096)
def validate_buyer(name: str, phone: str, address: str) -> Buyer:
    """Check and normalise the buyer's details; each rule has its own error code.

    Cached (a pure function of three strings): a buyer sends the same details with
    every order and retry, and in a sell-out crowd's refusals this was a visible cost.
    Refused details are not cached (``lru_cache`` keeps no exceptions).
    """
    name = " ".join(name.split())
    if not 2 <= len(name) <= NAME_MAX or not _NAME.match(name):
        raise DomainError(
            "buyer_name_invalid", f"a name is 2 to {NAME_MAX} Hangul or Latin letters"
        )
    address = " ".join(address.split())
    if not ADDRESS_MIN <= len(address) <= ADDRESS_MAX or not _no_controls(address):
        raise DomainError(
            "buyer_address_invalid",
            f"a delivery address is {ADDRESS_MIN} to {ADDRESS_MAX} characters",
        )
    if not _DIGIT.search(address) or not _LETTER.search(address):
        raise DomainError(
            "buyer_address_invalid", "a delivery address has a street or building number"
        )
    return Buyer(name=name, phone=normalize_phone(phone), address=address)
