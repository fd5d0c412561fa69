"""Client → server frames: parsed and validated before anything acts on them (sans-I/O).

Every refusal is a :class:`~livemarket.errors.DomainError` whose code the
gateway sends back as an ``error`` frame; the connection stays open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from livemarket.errors import DomainError

#: The largest client frame acted on; longer ones get ``frame_too_large``.
MAX_FRAME_CHARS = 4096
MODERATE_ACTIONS = ("delete", "ban", "slow", "pin")


class FrameBudget:
    """A token bucket per socket: ``burst`` frames at once, ``rate`` per second after.

    Chat has its own per-person limit; this one caps the work any client can cause
    (parsing, likes, pings) whatever it sends. ``take`` says ``ok``, ``refuse`` (answer
    with an error) or ``close`` (far over budget: a flood, not a fast typist).
    """

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float = 10.0, burst: float = 30.0) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def take(self, now: float) -> str:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return "ok"
        return "close" if self._tokens < -self.burst else "refuse"


@dataclass(frozen=True, slots=True)
class ClientFrame:
    type: str
    text: str = ""
    product_id: int | None = None
    action: str = ""
    message_id: int = 0
    seconds: int = 0
    client_time: float | None = None


def _int(data: dict[str, Any], name: str, *, low: int = 0, high: int = 2**53) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError("invalid_field", f"'{name}' must be an integer from {low} to {high}.")
    return value


def parse(raw: str) -> ClientFrame:
    """The frame a client sent, or a DomainError saying what is wrong with it."""
    if len(raw) > MAX_FRAME_CHARS:
        raise DomainError("frame_too_large", f"Frames have at most {MAX_FRAME_CHARS} characters.")
    try:
        # orjson, not json: it refuses nesting past 1,024 levels in C (json raises
        # RecursionError from deep in the stack) and numbers that are not finite
        # (1e400, NaN, Infinity), which could only be answered with something not JSON.
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DomainError("malformed_frame", "Frames are JSON objects.") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise DomainError("malformed_frame", 'Frames are JSON objects with a "type".')
    kind = data["type"]
    if kind == "chat":
        text = data.get("text")
        if not isinstance(text, str):
            raise DomainError("invalid_field", "'text' must be a string.")
        return ClientFrame("chat", text=text)
    if kind == "like":
        return ClientFrame("like")
    if kind == "ping":
        t = data.get("t")  # finite if a number: orjson refuses the rest
        if isinstance(t, bool) or not isinstance(t, int | float):
            return ClientFrame("ping")
        return ClientFrame("ping", client_time=float(t))
    if kind == "pin":
        product_id = data.get("product_id")
        if product_id is None:
            return ClientFrame("pin")
        return ClientFrame("pin", product_id=_int(data, "product_id", low=1))
    if kind == "moderate":
        action = data.get("action")
        if action not in MODERATE_ACTIONS:
            raise DomainError(
                "invalid_field", "'action' is one of: " + ", ".join(MODERATE_ACTIONS) + "."
            )
        if action == "slow":
            return ClientFrame("moderate", action="slow", seconds=_int(data, "seconds", high=3600))
        return ClientFrame("moderate", action=action, message_id=_int(data, "message_id", low=1))
    raise DomainError("unknown_type", f"Unknown frame type {kind[:40]!r}.")
