"""Chat rules on plain objects: no loop, no server, time passed in."""

from __future__ import annotations

import pytest

from livemarket.chat.history import RecentMessages
from livemarket.chat.ids import MessageIds
from livemarket.chat.likes import LikeTally
from livemarket.chat.rules import Author, ChatLimits, RoomRules, clean_text
from livemarket.chat.wordfilter import WordFilter
from livemarket.errors import DomainError, ErrorKind

VIEWER = Author(key="v:alice", nickname="앨리스")
HOST = Author(key="user:1", nickname="Host", role="host")


def refusal(rules: RoomRules, author: Author, text: str, now: float) -> DomainError:
    with pytest.raises(DomainError) as caught:
        rules.check(author, text, now)
    return caught.value


def test_accepts_and_cleans_a_message() -> None:
    """A normal message passes, with control characters and extra spaces removed."""
    rules = RoomRules()
    assert rules.check(VIEWER, "  안녕하세요\n\u202e  반가워요 ", 0.0) == "안녕하세요 반가워요"


def test_decomposed_korean_is_composed() -> None:
    """Jamo sequences from an IME are normalised (NFC) so length and filters see syllables."""
    assert clean_text("\u1112\u1161\u11ab") == "한"


def test_empty_and_too_long_are_refused_with_reasons() -> None:
    """Blank and over-long messages are refused and the sender learns the limit."""
    rules = RoomRules(ChatLimits(max_length=10))
    assert refusal(rules, VIEWER, " \n\t ", 0).code == "chat_empty"
    too_long = refusal(rules, VIEWER, "가" * 11, 0)
    assert too_long.code == "chat_too_long"
    assert "10" in too_long.message
    assert rules.check(VIEWER, "가" * 10, 0) == "가" * 10


def test_rate_limit_per_person() -> None:
    """The sixth message in ten seconds is refused; others are unaffected; it recovers."""
    rules = RoomRules(ChatLimits(rate_count=5, rate_window_s=10))
    for i in range(5):
        rules.check(VIEWER, f"m{i}", float(i))
    error = refusal(rules, VIEWER, "again", 5.0)
    assert error.code == "chat_rate_limited"
    assert error.kind is ErrorKind.LIMITED
    assert error.details["retry_after"] == pytest.approx(5.0)
    rules.check(Author(key="v:bob", nickname="bob"), "hi", 5.0)
    rules.check(VIEWER, "later", 10.5)


def test_slow_mode_and_staff_exemption() -> None:
    """Slow mode allows one message per interval to viewers; hosts post freely."""
    rules = RoomRules(slow_mode_s=30)
    rules.check(VIEWER, "one", 0)
    error = refusal(rules, VIEWER, "two", 10)
    assert error.code == "chat_slow_mode"
    assert error.details["retry_after"] == pytest.approx(20)
    rules.check(VIEWER, "two", 30)
    for i in range(20):
        rules.check(HOST, f"host {i}", 31)
    rules.set_slow_mode(0)
    rules.check(VIEWER, "free", 31)


def test_slow_mode_bounds() -> None:
    """Slow mode outside 0..max is refused and the old value kept."""
    rules = RoomRules(slow_mode_s=5)
    with pytest.raises(DomainError) as caught:
        rules.set_slow_mode(100_000)
    assert caught.value.code == "chat_slow_mode_invalid"
    assert rules.slow_mode_s == 5


def test_banned_person_is_refused_whatever_the_nickname() -> None:
    """A ban follows the session key, not the nickname."""
    rules = RoomRules()
    rules.ban(VIEWER.key)
    renamed = Author(key=VIEWER.key, nickname="someone-else")
    error = refusal(rules, renamed, "hello", 0)
    assert error.code == "chat_banned"
    assert error.kind is ErrorKind.FORBIDDEN
    rules.unban(VIEWER.key)
    rules.check(renamed, "hello", 0)


@pytest.mark.parametrize(
    "text", ["what the FUCK", "시발", "시 1 발 진짜", "병.신", "You bitch!", "ㅅㅂ"]
)
def test_word_filter_blocks_korean_and_english(text: str) -> None:
    """Blocked words are refused, including Korean spelled out with gaps and English in caps."""
    rules = RoomRules()
    assert refusal(rules, VIEWER, text, 0).code == "chat_blocked_word"


@pytest.mark.parametrize("text", ["first class shipping", "Scunthorpe", "시장 발견", "assistant"])
def test_word_filter_does_not_flag_innocent_text(text: str) -> None:
    """English matches whole words only, so ordinary words containing one pass."""
    assert RoomRules().check(VIEWER, text, 0) == text


def test_word_filter_extra_words() -> None:
    """An operator-supplied list replaces the default one."""
    words = WordFilter(["Spam", "광고"])
    assert words.find("buy SPAM now") == "spam"
    assert words.find("무료 광 고") == "광고"
    assert words.find("fuck") is None


def test_staff_are_still_word_filtered() -> None:
    """Hosts are exempt from pacing, not from the word filter."""
    assert refusal(RoomRules(), HOST, "shit", 0).code == "chat_blocked_word"


def test_message_ids_increase_and_stay_javascript_safe() -> None:
    """Ids grow strictly even past 256 per millisecond and stay below 2**53."""
    ids = MessageIds(node=5, clock_ms=lambda: 1_800_000_000_000)
    seen = [ids.next() for _ in range(1000)]
    assert seen == sorted(set(seen))
    assert seen[-1] < 2**53
    other = MessageIds(node=6, clock_ms=lambda: 1_800_000_000_000)
    assert not set(seen) & {other.next() for _ in range(1000)}


def test_like_tally_caps_each_person_and_drains() -> None:
    """A clicking frenzy counts at most the cap per interval; drain resets the interval."""
    tally = LikeTally(per_person=10)
    for _ in range(1000):
        tally.add(1, "v:alice")
    tally.add(1, "v:bob", 3)
    tally.add(2, "v:bob")
    assert tally.drain() == {1: 13, 2: 1}
    assert tally.drain() == {}
    assert tally.add(1, "v:alice", 4) == 4


def test_like_tally_takes_back_clicks_that_could_not_be_counted() -> None:
    """Clicks drained while Redis was away go out with the next interval's."""
    tally = LikeTally(per_person=10)
    tally.add(1, "v:alice", 3)
    failed = tally.drain()
    tally.add(1, "v:bob", 2)
    tally.restore(failed)
    assert tally.drain() == {1: 5}


def test_recent_messages_keeps_the_newest() -> None:
    """History keeps the last N messages and forgets deleted ones."""
    recent = RecentMessages(size=3)
    for i in range(5):
        recent.add({"id": i, "_author": "a" if i % 2 else "b"})
    assert [m["id"] for m in recent.snapshot()] == [2, 3, 4]
    assert recent.remove(3) is not None
    assert recent.remove(3) is None
    assert recent.remove_author("b") == [2, 4]
    assert recent.snapshot() == []
