"""The event catalogue: one entry per type, payloads that round-trip, the wire unchanged.

The golden strings below are what the string-literal events encoded to before the
catalogue (issue #14): the browser's JavaScript reads exactly these bytes.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from livemarket.bus import catalogue
from livemarket.bus.catalogue import CATALOGUE, InvalidEvent, UnknownEvent, validate
from livemarket.chat.models import ChatMessage
from livemarket.chat.store import message_event
from livemarket.checkout.ledger import Remaining
from livemarket.checkout.pricing import Deal
from livemarket.checkout.push import stock_event
from livemarket.realtime.fanout import error_event
from livemarket.realtime.frames import batch, encode
from livemarket.scheduler.events import (
    calendar_changed,
    planned_deal_refused,
    reminder_event,
    status_event,
)

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)

DEAL = Deal(
    id=7,
    special_id=3,
    product_id=11,
    discount_pct=30,
    original_price=10000,
    price=7000,
    starts_at=T0,
    ends_at=T1,
    quantity=50,
    sold=4,
    per_buyer_limit=2,
)
SPECIAL = SimpleNamespace(
    id=3,
    title="겨울 김장 특집",
    status="live",
    starts_at=T0,
    ends_at=T1,
    went_live_at=T0,
    ended_at=None,
    version=4,
)
MESSAGE = ChatMessage(
    id=91,
    special_id=3,
    author_key="k1",
    nickname="민지",
    role="viewer",
    text="안녕하세요",
    pinned=False,
    created_at=T0,
)

#: (event built by the code that publishes it, what it encoded to before the catalogue)
GOLDEN: list[tuple[Any, str]] = [
    (
        DEAL.started_event(),
        '{"type":"deal.started","deal_id":7,"special_id":3,"product_id":11,"price":7000,'
        '"original_price":10000,"discount_pct":30,"starts_at":"2026-12-02T20:00:00.000+00:00",'
        '"ends_at":"2026-12-02T21:00:00.000+00:00","remaining":46,"quantity":50,'
        '"per_buyer_limit":2}',
    ),
    (
        DEAL.ended_event("sold_out"),
        '{"type":"deal.ended","deal_id":7,"special_id":3,"product_id":11,"reason":"sold_out",'
        '"sold":4}',
    ),
    (
        stock_event(Remaining(product_id=11, stock=120, deal_id=7, deal_remaining=46)),
        '{"type":"stock","product_id":11,"remaining":46,"stock":120,"deal_id":7}',
    ),
    (
        stock_event(Remaining(product_id=12, stock=-1)),
        '{"type":"stock","product_id":12,"remaining":0,"stock":0,"deal_id":null}',
    ),
    (
        status_event(SPECIAL),
        '{"type":"special.status","special_id":3,"status":"live",'
        '"starts_at":"2026-12-02T20:00:00+00:00","ends_at":"2026-12-02T21:00:00+00:00",'
        '"went_live_at":"2026-12-02T20:00:00+00:00","ended_at":null,"version":4}',
    ),
    (
        calendar_changed(3, "status"),
        '{"type":"calendar.changed","special_id":3,"action":"status"}',
    ),
    (
        reminder_event(SPECIAL, "/specials/3"),
        '{"type":"reminder","special_id":3,"title":"겨울 김장 특집",'
        '"starts_at":"2026-12-02T20:00:00+00:00","url":"/specials/3"}',
    ),
    (
        planned_deal_refused(3, 5, 11, "deal_already_active", "already running"),
        '{"type":"planned_deal.refused","special_id":3,"planned_deal_id":5,"product_id":11,'
        '"code":"deal_already_active","message":"already running"}',
    ),
    (
        message_event(MESSAGE),
        '{"type":"chat","id":91,"special_id":3,"nickname":"민지","role":"viewer",'
        '"text":"안녕하세요","pinned":false,"created_at":"2026-12-02T20:00:00+00:00",'
        '"_author":"k1"}',
    ),
    (
        catalogue.ChatDeleted(type=catalogue.CHAT_DELETED, special_id=3, id=91),
        '{"type":"chat.deleted","special_id":3,"id":91}',
    ),
    (
        catalogue.Likes(type=catalogue.LIKES, special_id=3, count=12),
        '{"type":"likes","special_id":3,"count":12}',
    ),
    (
        catalogue.StreamStatus(type=catalogue.STREAM_STATUS, special_id=3, state="live"),
        '{"type":"stream.status","special_id":3,"state":"live"}',
    ),
    (
        catalogue.SessionsRevoked(type=catalogue.SESSIONS_REVOKED, user_id=8),
        '{"type":"sessions.revoked","user_id":8}',
    ),
]


def _literal_name(payload: type) -> str:
    (name,) = typing.get_args(typing.get_type_hints(payload)["type"])
    return str(name)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_each_type_is_registered_under_the_name_its_payload_declares(name: str) -> None:
    spec = CATALOGUE[name]
    assert spec.name == name == _literal_name(spec.payload)
    assert spec.topics and set(spec.topics) <= {
        "special",
        "viewer",
        "calendar",
        "accounts",
        "socket",
    }


def test_every_name_constant_is_in_the_catalogue_and_back() -> None:
    constants = {
        value
        for key, value in vars(catalogue).items()
        if key.isupper() and isinstance(value, str) and not key.startswith("_")
    }
    assert constants == set(CATALOGUE)
    assert {n for n in CATALOGUE if n.startswith("deal.")} == catalogue.DEAL_TYPES


@pytest.mark.parametrize(("event", "wire"), GOLDEN, ids=[w[9:30] for _, w in GOLDEN])
def test_events_encode_as_before_and_round_trip(event: Any, wire: str) -> None:
    assert encode(event) == wire
    back = json.loads(wire)  # what a Redis bus or a browser gets
    assert back == event
    assert validate(back).name == event["type"]


def test_socket_only_frames_keep_their_bytes() -> None:
    assert error_event("chat_slow_mode", "Slow down.", retry_after=3) == (
        '{"type":"error","code":"chat_slow_mode","message":"Slow down.","retry_after":3}'
    )
    assert validate(json.loads(error_event("x", "y", limit=2, left=0))).name == "error"
    texts = [encode(event) for event, _ in GOLDEN[:2]]
    frame = json.loads(batch(texts))
    assert frame == {"type": "batch", "events": [json.loads(t) for t in texts]}
    assert validate(frame).name == catalogue.BATCH


def test_a_chat_message_reaches_browsers_without_its_author_key() -> None:
    public = {k: v for k, v in message_event(MESSAGE).items() if not k.startswith("_")}
    validate(public)
    pinned = {"type": "chat.pinned", "special_id": 3, "message": {**public, "pinned": True}}
    validate(pinned)


def test_unknown_types_are_refused() -> None:
    for event in ({"type": "deal.paused", "deal_id": 1}, {"deal_id": 1}, {"type": 3}):
        with pytest.raises(UnknownEvent):
            validate(event)


@pytest.mark.parametrize(
    "change",
    [
        {"sold": "4"},  # a string for a number
        {"reason": None},  # None where a string is required
        {"extra": 1},  # a field the type does not have
        {"sold": True},  # a bool is not a count
    ],
)
def test_payloads_of_the_wrong_shape_are_refused(change: dict[str, Any]) -> None:
    event = {**DEAL.ended_event("ended"), **change}
    with pytest.raises(InvalidEvent):
        validate(event)


def test_a_missing_field_is_refused() -> None:
    event = dict(DEAL.ended_event("ended"))
    del event["sold"]
    with pytest.raises(InvalidEvent, match="sold"):
        validate(event)


def test_frames_from_a_room_carry_seq() -> None:
    event = {**catalogue.Likes(type=catalogue.LIKES, special_id=3, count=1), "seq": 9}
    with pytest.raises(InvalidEvent):
        validate(event)
    assert catalogue.validate_frame(event).name == catalogue.LIKES
    with pytest.raises(InvalidEvent):
        catalogue.validate_frame({**event, "seq": "9"})
