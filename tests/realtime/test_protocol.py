"""Client frame parsing and the per-socket frame budget, without a server."""

from __future__ import annotations

import pytest

from livemarket.errors import DomainError
from livemarket.realtime import frames, protocol


def code_of(raw: str) -> str:
    with pytest.raises(DomainError) as caught:
        protocol.parse(raw)
    return caught.value.code


def test_valid_frames() -> None:
    """Each client frame type parses into its fields."""
    assert protocol.parse('{"type":"chat","text":"안녕"}').text == "안녕"
    assert protocol.parse('{"type":"like"}').type == "like"
    assert protocol.parse('{"type":"pin","product_id":3}').product_id == 3
    assert protocol.parse('{"type":"pin","product_id":null}').product_id is None
    ban = protocol.parse('{"type":"moderate","action":"ban","message_id":7}')
    assert (ban.action, ban.message_id) == ("ban", 7)
    assert protocol.parse('{"type":"moderate","action":"slow","seconds":30}').seconds == 30
    assert protocol.parse('{"type":"ping","t":12.5}').client_time == 12.5


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("x" * (protocol.MAX_FRAME_CHARS + 1), "frame_too_large"),
        ("{", "malformed_frame"),
        ('"chat"', "malformed_frame"),
        ('{"text": "no type"}', "malformed_frame"),
        ('{"type": "chat", "text": ["a"]}', "invalid_field"),
        ('{"type": "pin", "product_id": "1"}', "invalid_field"),
        ('{"type": "pin", "product_id": true}', "invalid_field"),
        ('{"type": "moderate", "action": "slow", "seconds": -1}', "invalid_field"),
        ('{"type": "moderate", "action": "delete"}', "invalid_field"),
        ('{"type": "deal.started", "price": 1}', "unknown_type"),
    ],
)
def test_bad_frames_are_refused_with_a_code(raw: str, code: str) -> None:
    """Oversized, malformed and forged frames are refused with a distinct code."""
    assert code_of(raw) == code


def test_frame_budget_allows_bursts_refuses_then_closes() -> None:
    """A burst passes, a sustained flood is refused, a huge one closes; time refills it."""
    budget = protocol.FrameBudget(rate=10, burst=30)
    verdicts = [budget.take(0.0) for _ in range(70)]
    assert verdicts[:30] == ["ok"] * 30
    assert verdicts[30] == "refuse"
    assert verdicts[-1] == "close"
    fresh = protocol.FrameBudget(rate=10, burst=30)
    assert all(fresh.take(i * 0.1) == "ok" for i in range(1000))  # 10 a second forever


def test_frames_encode_lengths() -> None:
    """Frame headers use the 7-bit, 16-bit and 64-bit length forms correctly."""
    for size, header in [(125, 2), (126, 4), (65535, 4), (65536, 10)]:
        frame = frames.text_frame("a" * size)
        assert len(frame) == header + size
        assert frame[0] == 0x81
    assert frames.close_frame(1001, "bye")[:4] == b"\x88\x05\x03\xe9"


def test_deep_json_is_refused_cheaply() -> None:
    """1,500 levels of nesting are malformed, refused in C without a RecursionError."""
    for raw in ["[" * 1500 + "]" * 1500, '{"type":"chat","text":' + "[" * 4000]:
        assert code_of(raw[: protocol.MAX_FRAME_CHARS]) == "malformed_frame"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_numbers_that_are_not_finite_are_refused(number: str) -> None:
    """Nothing a client sends can come back as ``Infinity`` or ``NaN``, which are not JSON."""
    assert code_of('{"type":"ping","t":' + number + "}") == "malformed_frame"
    assert code_of('{"type":"pin","product_id":' + number + "}") == "malformed_frame"
