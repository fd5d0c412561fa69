"""Viewer nicknames: what a viewer may call themselves in chat."""

from __future__ import annotations

import re
import secrets
import unicodedata

from livemarket.errors import DomainError

MAX_NICKNAME = 20
# Letters (Hangul included), digits, spaces and a little punctuation; no markup, no controls.
_ALLOWED = re.compile(r"^[\w가-힣ㄱ-ㅎㅏ-ㅣ .\-·]+$")
_RESERVED = {"host", "operator", "admin", "호스트", "운영자", "관리자"}


def validate_nickname(raw: str) -> str:
    """The normalised nickname, or a ``DomainError`` saying what is wrong with it."""
    nickname = " ".join(unicodedata.normalize("NFC", raw).split())
    if not _ALLOWED.match(nickname):
        raise DomainError(
            "nickname_characters",
            "A nickname may use letters, digits, spaces, '.', '-' and '·' only.",
        )
    if not 2 <= len(nickname) <= MAX_NICKNAME:
        raise DomainError("nickname_length", f"A nickname has 2 to {MAX_NICKNAME} characters.")
    if nickname.casefold() in _RESERVED:
        raise DomainError("nickname_reserved", "That nickname is reserved for staff.")
    return nickname


def random_nickname() -> str:
    """A friendly default such as ``시청자4821`` for a new anonymous viewer."""
    return f"시청자{secrets.randbelow(9000) + 1000}"
