"""The blocked-word filter (Korean and English), with no I/O.

English words match as whole tokens after case folding, so "class" never trips
on "ass" (the Scunthorpe problem). Korean has no spaces to lean on and is
usually evaded by inserting spaces, digits or punctuation between syllables
("시 1 발"), so Korean words match as substrings of the text's Hangul-only
skeleton.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: A deliberately small default list; operators extend it with ``chat_blocked_words``.
DEFAULT_BLOCKED_WORDS: tuple[str, ...] = (
    "fuck",
    "fucking",
    "shit",
    "bitch",
    "asshole",
    "cunt",
    "motherfucker",
    "bastard",
    "시발",
    "씨발",
    "씨팔",
    "ㅅㅂ",
    "병신",
    "ㅂㅅ",
    "개새끼",
    "좆",
    "지랄",
    "미친놈",
    "꺼져",
)

_TOKEN = re.compile(r"[^\W_]+")
_NOT_HANGUL = re.compile(r"[^\u3131-\u318e\uac00-\ud7a3]+")


def _is_hangul(word: str) -> bool:
    return bool(word) and not _NOT_HANGUL.search(word)


class WordFilter:
    """Finds the first blocked word in a text, or ``None``."""

    def __init__(self, words: Iterable[str] = DEFAULT_BLOCKED_WORDS) -> None:
        self._tokens: set[str] = set()
        self._hangul: list[str] = []
        for raw in words:
            word = unicodedata.normalize("NFC", raw).casefold().strip()
            if not word:
                continue
            if _is_hangul(word):
                self._hangul.append(word)
            else:
                self._tokens.add(word)

    def find(self, text: str) -> str | None:
        """The blocked word ``text`` contains, if any."""
        folded = unicodedata.normalize("NFC", text).casefold()
        for token in _TOKEN.findall(folded):
            if token in self._tokens:
                return token
        if self._hangul:
            skeleton = _NOT_HANGUL.sub("", folded)
            for word in self._hangul:
                if word in skeleton:
                    return word
        return None
