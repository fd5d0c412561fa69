"""Chat rules for one room, as a plain object: no I/O, no clock of its own.

``RoomRules.check`` decides whether a message may be posted and returns the
cleaned text, or raises a :class:`~livemarket.errors.DomainError` whose ``code``
tells the sender why (``chat_banned``, ``chat_rate_limited``, ``chat_slow_mode``,
``chat_too_long``, ``chat_empty``, ``chat_blocked_word``). Time is passed in as
monotonic seconds so tests drive it. Hosts and operators are exempt from the
rate limit and slow mode (they run the show) but not from the word filter.

Pacing (rate limit and slow mode) is described once, by :class:`PaceRule`: its
refusals and its decision over a person's recent sends. Embedded, ``check``
applies it to sends remembered here. In scale-out a person's sockets may sit on
several instances, so the service calls ``check(..., pace=False)`` for the
content rules and has the same rule applied to sends kept in Redis
(``redis_pace.py``, a Lua script mirroring :meth:`PaceRule.refusal`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from livemarket.chat.wordfilter import WordFilter
from livemarket.errors import DomainError, ErrorKind

STAFF_ROLES = frozenset({"host", "operator"})
_CONTROLS = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def unavailable() -> DomainError:
    """The refusal when a message cannot be both delivered and kept (Redis or the
    database's queue away): the sender may try again, nothing of it was kept."""
    return DomainError(
        "chat_unavailable",
        "Chat is unavailable just now; try again in a moment.",
        kind=ErrorKind.UNAVAILABLE,
    )


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """The room's limits; the defaults suit a live shopping chat."""

    max_length: int = 200
    #: At most ``rate_count`` messages per ``rate_window_s`` seconds per person.
    rate_count: int = 5
    rate_window_s: float = 10.0
    max_slow_mode_s: int = 300


@dataclass(frozen=True, slots=True)
class Author:
    """Who posts: ``key`` is the session's viewer key (``user:<id>`` for staff)."""

    key: str
    nickname: str
    role: str = "viewer"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def clean_text(raw: str) -> str:
    """NFC (so Korean IME output compares equal), no control or bidi characters, one space."""
    text = unicodedata.normalize("NFC", raw)
    text = _CONTROLS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _limited(code: str, message: str, retry_after: float) -> DomainError:
    return DomainError(
        code, message, kind=ErrorKind.LIMITED, retry_after=round(max(retry_after, 0.0), 1)
    )


@dataclass(frozen=True, slots=True)
class PaceRule:
    """How often one person may post in a room: the same for every backend."""

    rate_count: int
    rate_window_s: float
    slow_mode_s: int = 0

    @property
    def horizon_s(self) -> float:
        """Sends older than this no longer matter to any decision."""
        return max(self.rate_window_s, float(self.slow_mode_s))

    def slow_mode_refusal(self, retry_after: float) -> DomainError:
        return _limited(
            "chat_slow_mode",
            f"Slow mode is on: one message every {self.slow_mode_s} seconds.",
            retry_after,
        )

    def rate_refusal(self, retry_after: float) -> DomainError:
        return _limited(
            "chat_rate_limited",
            f"Too many messages: at most {self.rate_count} per {self.rate_window_s:g} seconds.",
            retry_after,
        )

    def refusal(self, sent: Sequence[float], now: float) -> DomainError | None:
        """Why a send at ``now`` is refused given the last ``rate_count`` sends (oldest
        first), or ``None`` if it may go."""
        if sent and self.slow_mode_s and now - sent[-1] < self.slow_mode_s:
            return self.slow_mode_refusal(self.slow_mode_s - (now - sent[-1]))
        if self.rate_count and len(sent) >= self.rate_count:
            oldest = sent[len(sent) - self.rate_count]  # of the last ``rate_count``
            if now - oldest < self.rate_window_s:
                return self.rate_refusal(self.rate_window_s - (now - oldest))
        return None


class RoomRules:
    """The state the rules need for one room: bans, slow mode and recent sends per person."""

    def __init__(
        self,
        limits: ChatLimits | None = None,
        words: WordFilter | None = None,
        *,
        banned: set[str] | None = None,
        slow_mode_s: int = 0,
    ) -> None:
        self.limits = limits or ChatLimits()
        self.words = words or WordFilter()
        self.banned: set[str] = set(banned or ())
        self.slow_mode_s = 0
        self.set_slow_mode(slow_mode_s)
        self._sent: dict[str, deque[float]] = {}

    # -- moderation state -------------------------------------------------
    def ban(self, key: str) -> None:
        self.banned.add(key)

    def unban(self, key: str) -> None:
        self.banned.discard(key)

    def is_banned(self, key: str) -> bool:
        return key in self.banned

    def set_slow_mode(self, seconds: int) -> int:
        """Viewers may post once per ``seconds`` (0 turns slow mode off)."""
        if not 0 <= seconds <= self.limits.max_slow_mode_s:
            raise DomainError(
                "chat_slow_mode_invalid",
                f"Slow mode is 0 (off) to {self.limits.max_slow_mode_s} seconds.",
            )
        self.slow_mode_s = seconds
        return seconds

    @property
    def pace(self) -> PaceRule:
        """The room's pacing as it stands (slow mode changes it)."""
        return PaceRule(self.limits.rate_count, self.limits.rate_window_s, self.slow_mode_s)

    @staticmethod
    def paces(author: Author) -> bool:
        """Whether ``author`` is paced at all (staff are not)."""
        return not author.is_staff

    # -- the check ---------------------------------------------------------
    def check(self, author: Author, raw: str, now: float, *, pace: bool = True) -> str:
        """The cleaned text if ``author`` may post it at ``now``; records the send.

        With ``pace=False`` only the content rules (ban, empty, length, words) run and
        nothing is recorded: the caller paces elsewhere (``PaceRule`` in Redis).
        """
        if self.is_banned(author.key):
            raise DomainError(
                "chat_banned", "You have been banned from this chat.", kind=ErrorKind.FORBIDDEN
            )
        text = clean_text(raw)
        if not text:
            raise DomainError("chat_empty", "Type a message first.")
        if len(text) > self.limits.max_length:
            raise DomainError(
                "chat_too_long",
                f"Messages have at most {self.limits.max_length} characters.",
                max_length=self.limits.max_length,
            )
        if self.words.find(text) is not None:
            raise DomainError("chat_blocked_word", "Your message contains a word not allowed here.")
        if pace and self.paces(author):
            self._check_pace(author.key, now)
        return text

    def _check_pace(self, key: str, now: float) -> None:
        sent = self._sent.get(key)
        if sent is None:
            if len(self._sent) > 10_000:
                self._forget_idle(now)
            sent = self._sent[key] = deque(maxlen=self.limits.rate_count)
        refusal = self.pace.refusal(sent, now)
        if refusal is not None:
            raise refusal
        sent.append(now)

    def _forget_idle(self, now: float) -> None:
        """Drop people whose last send is outside every window (bounds memory under floods)."""
        horizon = self.pace.horizon_s
        for key in [k for k, sent in self._sent.items() if not sent or now - sent[-1] > horizon]:
            del self._sent[key]
