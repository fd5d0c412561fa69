"""A show's timeline over its recording: markers, video offsets, chat highlights (pure, no I/O).

Wall-clock moments (a deal's start, a pin, a chat message) become video offsets through the
replay playlist's EXT-X-PROGRAM-DATE-TIME: each segment says when its first frame was
captured, so a moment maps into the segment that was recording then. A moment between two
publishing runs (the host's encoder dropped) lands where the next run starts; one before the
first frame or after the last lands on the video's start or end.

Chat highlights (the rule a host asked for): the messages the host or an operator pinned
during the show, and the host's own messages (announcements), at most one per minute of the
show (a pinned message wins over a host message, then the earlier one), at most
:data:`MAX_HIGHLIGHTS` in all. Viewers' unpinned messages are never markers: they replay
in the chat beside the video instead.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MAX_HIGHLIGHTS = 40
HIGHLIGHTS_PER_MINUTE = 1
#: Roles whose own messages are highlights (the chat stores ``viewer``, ``host``, ``operator``).
HOST_ROLES = frozenset({"host"})

#: Marker kinds, in the order two markers at the same offset are listed.
KINDS = ("deal.ended", "product.pinned", "deal.started", "chat.highlight")


@dataclass(frozen=True, slots=True)
class Span:
    """One segment of the recording: its first frame's wall-clock time and where it plays."""

    at: datetime
    start_s: float
    duration_s: float


class VideoClock:
    """Maps wall-clock moments of the show to offsets (seconds) into the replay video."""

    def __init__(self, spans: Sequence[Span]) -> None:
        if not spans:
            raise ValueError("a recording has at least one segment")
        self.spans = sorted(spans, key=lambda s: s.start_s)
        self._times = [s.at for s in self.spans]

    @property
    def started_at(self) -> datetime:
        """Wall-clock time of the video's first frame."""
        return self.spans[0].at

    @property
    def duration_s(self) -> float:
        last = self.spans[-1]
        return last.start_s + last.duration_s

    def offset(self, moment: datetime) -> float:
        """Where ``moment`` plays in the video, clamped to it (rounded to milliseconds)."""
        index = bisect_right(self._times, moment) - 1
        if index < 0:
            return 0.0
        span = self.spans[index]
        into = min((moment - span.at).total_seconds(), span.duration_s)
        return round(span.start_s + into, 3)


def parse_vod_playlist(text: str) -> VideoClock | None:
    """The clock of an HLS media playlist; ``None`` when it has no dated segment.

    A segment without its own EXT-X-PROGRAM-DATE-TIME follows on from the previous one
    (RFC 8216 §4.3.2.6); segments before the first date are dated backwards from it.
    """
    spans: list[tuple[datetime | None, float]] = []
    pending_date: datetime | None = None
    pending_duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending_date = _parse_date(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            pending_duration = _parse_duration(line.split(":", 1)[1])
        elif line and not line.startswith("#") and pending_duration is not None:
            spans.append((pending_date, pending_duration))
            pending_date, pending_duration = None, None
    first = next((i for i, (at, _d) in enumerate(spans) if at is not None), None)
    if first is None:
        return None
    dated: list[Span] = []
    start_s = 0.0
    anchor = spans[first][0]
    assert anchor is not None
    before = sum(duration for _at, duration in spans[:first])
    at = anchor - timedelta(seconds=before)
    for own, duration in spans:
        at = own if own is not None else at
        dated.append(Span(at, round(start_s, 6), duration))
        start_s += duration
        at = at + timedelta(seconds=duration)
    return VideoClock(dated)


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _parse_duration(value: str) -> float | None:
    try:
        duration = float(value.split(",", 1)[0])
    except ValueError:
        return None
    return duration if duration >= 0 else None


@dataclass(frozen=True, slots=True)
class Pin:
    """A product pinned over the video (``product_id`` ``None``: unpinned)."""

    at: datetime
    product_id: int | None


@dataclass(frozen=True, slots=True)
class DealRun:
    """A flash deal as it ran: from ``starts_at`` to when it ended (early or on time)."""

    id: int
    product_id: int
    discount_pct: int
    price: int
    starts_at: datetime
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A stored, visible chat message."""

    id: int
    at: datetime
    nickname: str
    role: str
    text: str
    pinned: bool


@dataclass(frozen=True, slots=True)
class Marker:
    """One point of the replay timeline; ``offset_s`` is where it plays in the video."""

    kind: str
    at: datetime
    offset_s: float
    product_id: int | None = None
    deal_id: int | None = None
    discount_pct: int | None = None
    message_id: int | None = None
    nickname: str | None = None
    text: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "at": self.at.isoformat()}
        out["offset_s"] = self.offset_s
        for name in ("product_id", "deal_id", "discount_pct", "message_id", "nickname", "text"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def deal_end(
    ends_at: datetime, ended_at: datetime | None, show_ended_at: datetime | None
) -> datetime:
    """When a deal stopped pricing: ended early, or its window closed, or the show ended."""
    candidates = [ends_at, *(t for t in (ended_at, show_ended_at) if t is not None)]
    return min(candidates)


def pin_changes(pins: Iterable[Pin]) -> list[Pin]:
    """The pins that changed what was pinned, in time order.

    Every instance hearing a pin records it, so one pin may be stored a few times a few
    milliseconds apart; only the first of those changes anything. Pinning what is already
    pinned changes nothing either.
    """
    changes: list[Pin] = []
    current: int | None = None
    for pin in sorted(pins, key=lambda p: p.at):
        if pin.product_id != current:
            changes.append(pin)
            current = pin.product_id
    return changes


def highlights(lines: Iterable[ChatLine], *, limit: int = MAX_HIGHLIGHTS) -> list[ChatLine]:
    """The chat highlights (see the module's rule), in time order."""
    by_minute: dict[datetime, list[ChatLine]] = {}
    for line in lines:
        if line.pinned or line.role in HOST_ROLES:
            minute = line.at.replace(second=0, microsecond=0)
            by_minute.setdefault(minute, []).append(line)
    chosen: list[ChatLine] = []
    for minute in sorted(by_minute):
        ranked = sorted(by_minute[minute], key=lambda m: (not m.pinned, m.at, m.id))
        chosen.extend(ranked[:HIGHLIGHTS_PER_MINUTE])
    if len(chosen) > limit:  # keep every pinned one we can, then the earliest
        keep = sorted(chosen, key=lambda m: (not m.pinned, m.at, m.id))[:limit]
        chosen = sorted(keep, key=lambda m: (m.at, m.id))
    return chosen


def markers(
    clock: VideoClock,
    *,
    deals: Iterable[DealRun],
    pins: Iterable[Pin],
    chat: Iterable[ChatLine],
) -> list[Marker]:
    """Every marker of the replay timeline, in play order."""
    out: list[Marker] = []
    for deal in deals:
        started = clock.offset(deal.starts_at)
        out.append(
            Marker(
                "deal.started",
                deal.starts_at,
                started,
                product_id=deal.product_id,
                deal_id=deal.id,
                discount_pct=deal.discount_pct,
            )
        )
        ended = clock.offset(deal.ended_at)
        out.append(
            Marker("deal.ended", deal.ended_at, ended, product_id=deal.product_id, deal_id=deal.id)
        )
    for pin in pin_changes(pins):
        if pin.product_id is not None:
            out.append(
                Marker("product.pinned", pin.at, clock.offset(pin.at), product_id=pin.product_id)
            )
    for line in highlights(chat):
        out.append(
            Marker(
                "chat.highlight",
                line.at,
                clock.offset(line.at),
                message_id=line.id,
                nickname=line.nickname,
                text=line.text,
            )
        )
    return sorted(out, key=lambda m: (m.offset_s, m.at, KINDS.index(m.kind)))
