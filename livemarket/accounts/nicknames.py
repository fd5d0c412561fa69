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


#: The default nickname's word in each page language ("Viewer4821", "시청자4821").
DEFAULT_NICKNAME_WORD = {"ko": "시청자", "en": "Viewer"}
_DEFAULT = re.compile("^(" + "|".join(DEFAULT_NICKNAME_WORD.values()) + r")(\d{4})$")


def random_nickname(lang: str = "ko") -> str:
    """A friendly default such as ``Viewer4821`` for a new anonymous viewer, in ``lang``."""
    word = DEFAULT_NICKNAME_WORD.get(lang, DEFAULT_NICKNAME_WORD["ko"])
    return f"{word}{secrets.randbelow(9000) + 1000}"


def nickname_in_language(nickname: str, lang: str) -> str:
    """A default nickname follows a language switch (``시청자4821`` -> ``Viewer4821``).

    A nickname the viewer chose is theirs and never changes.
    """
    match = _DEFAULT.match(nickname)
    if match is None or lang not in DEFAULT_NICKNAME_WORD:
        return nickname
    return DEFAULT_NICKNAME_WORD[lang] + match.group(2)
