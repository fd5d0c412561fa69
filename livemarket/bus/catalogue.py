"""Every event type, once: its name, its payload's shape, where it travels (issue #14).

Like Owncast's ``eventtype.go``: publishers build events with the payload types
below (a ``TypedDict`` is a plain ``dict`` at run time, so what goes on the bus and
to browsers is byte for byte what the literals made before), listeners compare
``type`` with the names below, and :data:`CATALOGUE` maps each name to its payload
so tests (and anything else) can check an event with :func:`validate`.

Fields starting with ``_`` stay between instances (``chat.service.public`` removes
them before a browser sees the event). The fan-out adds ``seq`` to every event it
sends to a room (:func:`validate_frame` accepts it). Client → server frames are
``realtime.protocol``'s. docs/realtime.md has the table of who publishes and who
listens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal, NotRequired

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

# pydantic validates ``typing_extensions``' TypedDict on Python 3.11, not ``typing``'s.
from typing_extensions import TypedDict

# -- names ----------------------------------------------------------------------------
CHAT: Final = "chat"
CHAT_DELETED: Final = "chat.deleted"
CHAT_BANNED: Final = "chat.banned"
CHAT_MODE: Final = "chat.mode"
CHAT_PINNED: Final = "chat.pinned"
DEAL_STARTED: Final = "deal.started"
DEAL_ENDED: Final = "deal.ended"
STOCK: Final = "stock"
PRODUCT_PINNED: Final = "product.pinned"
LIKES: Final = "likes"
VIEWERS: Final = "viewers"
SPECIAL_STATUS: Final = "special.status"
CALENDAR_CHANGED: Final = "calendar.changed"
REMINDER: Final = "reminder"
PLANNED_DEAL_REFUSED: Final = "planned_deal.refused"
STREAM_STATUS: Final = "stream.status"
SIMULCAST_STATUS: Final = "simulcast.status"
SESSIONS_REVOKED: Final = "sessions.revoked"
HELLO: Final = "hello"
ERROR: Final = "error"
PONG: Final = "pong"
BATCH: Final = "batch"

#: Both deal events: a room's cached active deals are void after either.
DEAL_TYPES: Final = frozenset({DEAL_STARTED, DEAL_ENDED})

_STRICT = ConfigDict(extra="forbid", strict=True)


# -- payloads -------------------------------------------------------------------------
@with_config(_STRICT)
class Chat(TypedDict):
    """A chat message (also the shape of ``hello.chat`` and ``chat.pinned.message``)."""

    type: Literal["chat"]
    id: int
    special_id: int
    nickname: str
    role: str
    text: str
    pinned: bool
    created_at: str
    #: The author's session key: on the bus, never to browsers.
    _author: NotRequired[str]


@with_config(_STRICT)
class ChatDeleted(TypedDict):
    type: Literal["chat.deleted"]
    special_id: int
    id: int


@with_config(_STRICT)
class ChatBanned(TypedDict):
    type: Literal["chat.banned"]
    special_id: int
    nickname: str
    _author: NotRequired[str]


@with_config(_STRICT)
class ChatMode(TypedDict):
    type: Literal["chat.mode"]
    special_id: int
    slow_mode_s: int


@with_config(_STRICT)
class ChatPinned(TypedDict):
    type: Literal["chat.pinned"]
    special_id: int
    message: Chat


@with_config(_STRICT)
class DealStarted(TypedDict):
    """A deal opened (also each entry of ``hello.deals``); times ISO-8601 UTC."""

    type: Literal["deal.started"]
    deal_id: int
    special_id: int
    product_id: int
    price: int
    original_price: int
    discount_pct: int
    starts_at: str
    ends_at: str
    remaining: int
    quantity: int
    per_buyer_limit: int


@with_config(_STRICT)
class DealEnded(TypedDict):
    """``reason``: ``ended`` early, ``expired``, ``sold_out`` or ``show_ended`` (its special
    ended or was called off while the deal ran)."""

    type: Literal["deal.ended"]
    deal_id: int
    special_id: int
    product_id: int
    reason: str
    sold: int


@with_config(_STRICT)
class Stock(TypedDict):
    """``remaining``: the deal's units while a deal sells (``deal_id``), else the stock."""

    type: Literal["stock"]
    product_id: int
    remaining: int
    stock: int
    deal_id: int | None


@with_config(_STRICT)
class ProductView(TypedDict):
    id: int
    name: str
    price: int
    category: str


@with_config(_STRICT)
class ProductPinned(TypedDict):
    """``product_id`` and ``product`` are ``None`` when the host unpins."""

    type: Literal["product.pinned"]
    special_id: int
    product_id: int | None
    product: ProductView | None


@with_config(_STRICT)
class Likes(TypedDict):
    type: Literal["likes"]
    special_id: int
    count: int


@with_config(_STRICT)
class Viewers(TypedDict):
    type: Literal["viewers"]
    special_id: int
    count: int


@with_config(_STRICT)
class SpecialStatus(TypedDict):
    type: Literal["special.status"]
    special_id: int
    status: str
    starts_at: str
    ends_at: str
    went_live_at: str | None
    ended_at: str | None
    version: int


@with_config(_STRICT)
class CalendarChanged(TypedDict):
    """``action``: created, updated, cancelled, deleted or status."""

    type: Literal["calendar.changed"]
    special_id: int
    action: str


@with_config(_STRICT)
class Reminder(TypedDict):
    """The special starts soon; ``url`` is its watch page (a path)."""

    type: Literal["reminder"]
    special_id: int
    title: str
    starts_at: str
    url: str


@with_config(_STRICT)
class PlannedDealRefused(TypedDict):
    type: Literal["planned_deal.refused"]
    special_id: int
    planned_deal_id: int
    product_id: int
    code: str
    message: str


@with_config(_STRICT)
class StreamStatus(TypedDict):
    """``state``: the relay's publisher state (live, reconnecting, ended)."""

    type: Literal["stream.status"]
    special_id: int
    state: str


@with_config(_STRICT)
class SimulcastDestination(TypedDict):
    id: int
    name: str
    state: str
    reason: str | None
    reconnects: int
    bytes_sent: int
    bitrate_bps: int
    uptime_s: float
    dropped: int


@with_config(_STRICT)
class SimulcastStatus(TypedDict):
    type: Literal["simulcast.status"]
    special_id: int
    frames_dropped: int
    encoder_restarts: int
    destinations: list[SimulcastDestination]


@with_config(_STRICT)
class SessionsRevoked(TypedDict):
    type: Literal["sessions.revoked"]
    user_id: int


@with_config(_STRICT)
class You(TypedDict):
    nickname: str
    role: str
    can_chat: bool
    banned: bool
    moderator: bool


@with_config(_STRICT)
class Hello(TypedDict):
    """The snapshot a socket gets first; ``seq`` is the room's, ``server_time`` in ms."""

    type: Literal["hello"]
    special_id: int
    status: str
    pinned_product: ProductView | None
    pinned_message: Chat | None
    deals: list[DealStarted]
    viewers: int
    likes: int
    slow_mode_s: int
    chat: list[Chat]
    epoch: str
    seq: int
    resumed: bool
    server_time: float
    you: You


@with_config(ConfigDict(extra="allow", strict=True))
class Error(TypedDict):
    """A refusal; the error's details (``retry_after``, ``limit``, …) ride beside ``code``."""

    type: Literal["error"]
    code: str
    message: str


@with_config(_STRICT)
class Pong(TypedDict):
    """The answer to a client's ``ping``: its ``t`` back, and the server's time in ms."""

    type: Literal["pong"]
    t: float | None
    server_time: float


@with_config(_STRICT)
class Batch(TypedDict):
    """Several events of one fan-out window in one frame (built as text, ``frames.batch``)."""

    type: Literal["batch"]
    events: list[dict[str, Any]]


# -- the registry ---------------------------------------------------------------------
@dataclass(frozen=True)
class EventType:
    """One event type: its payload and where it travels."""

    name: str
    payload: type
    #: The bus topic it is published on (``special``: ``special_topic(id)``), or
    #: ``socket`` for frames written to sockets without the bus.
    topics: tuple[str, ...]
    #: Whether browsers receive it (else it stays between instances).
    to_browsers: bool = True


CATALOGUE: Final[Mapping[str, EventType]] = {
    t.name: t
    for t in (
        EventType(CHAT, Chat, ("special",)),
        EventType(CHAT_DELETED, ChatDeleted, ("special",)),
        EventType(CHAT_BANNED, ChatBanned, ("special",)),
        EventType(CHAT_MODE, ChatMode, ("special",)),
        EventType(CHAT_PINNED, ChatPinned, ("special",)),
        EventType(DEAL_STARTED, DealStarted, ("special",)),
        EventType(DEAL_ENDED, DealEnded, ("special",)),
        EventType(STOCK, Stock, ("special",)),
        EventType(PRODUCT_PINNED, ProductPinned, ("special",)),
        EventType(LIKES, Likes, ("special",)),
        EventType(VIEWERS, Viewers, ("socket",)),
        EventType(SPECIAL_STATUS, SpecialStatus, ("special",)),
        EventType(CALENDAR_CHANGED, CalendarChanged, ("calendar",), to_browsers=False),
        EventType(REMINDER, Reminder, ("special", "viewer")),
        EventType(PLANNED_DEAL_REFUSED, PlannedDealRefused, ("special",)),
        EventType(STREAM_STATUS, StreamStatus, ("special",)),
        EventType(SIMULCAST_STATUS, SimulcastStatus, ("special",)),
        EventType(SESSIONS_REVOKED, SessionsRevoked, ("accounts",), to_browsers=False),
        EventType(HELLO, Hello, ("socket",)),
        EventType(ERROR, Error, ("socket",)),
        EventType(PONG, Pong, ("socket",)),
        EventType(BATCH, Batch, ("socket",)),
    )
}


class UnknownEvent(ValueError):
    """An event whose ``type`` is not in the catalogue."""


class InvalidEvent(ValueError):
    """An event whose fields do not match its type's payload."""


@cache
def _adapter(payload: type) -> TypeAdapter[Any]:
    return TypeAdapter(payload)


def validate(event: Mapping[str, Any]) -> EventType:
    """The event's type, or :class:`UnknownEvent` / :class:`InvalidEvent` saying what is wrong.

    Strict: a missing or unknown field, or one of another JSON type, is refused.
    """
    kind = event.get("type")
    spec = CATALOGUE.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise UnknownEvent(f"unknown event type {kind!r}")
    try:
        _adapter(spec.payload).validate_python(dict(event))
    except ValidationError as exc:
        raise InvalidEvent(f"{kind}: {exc}") from None
    return spec


def validate_frame(frame: Mapping[str, Any]) -> EventType:
    """:func:`validate` for an event as a socket receives it (with the room's ``seq``)."""
    if frame.get("type") != HELLO and "seq" in frame:
        seq = frame["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise InvalidEvent(f"{frame.get('type')}: seq must be an integer")
        frame = {k: v for k, v in frame.items() if k != "seq"}
    return validate(frame)
