"""The event bus interface: publish an event to a topic, subscribe to a topic.

Topics are per special (``special_topic(id)``) plus a few global ones. Events are
JSON-able dicts shaped as the realtime contract's server→client frames
(``{"type": "deal.started", ...}``), so the gateway forwards them as they are.
Two backends keep this interface: in-process (embedded) and Redis pub/sub
(scale-out), so a publish on one instance reaches subscribers on every instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Event = Mapping[str, Any]
Handler = Callable[[str, Event], None]


def special_topic(special_id: int) -> str:
    """The topic carrying one special's realtime events."""
    return f"special:{special_id}"


CALENDAR_TOPIC = "calendar"


class Subscription(Protocol):
    def close(self) -> None:
        """Stop delivering to this subscription's handler."""


class EventBus(Protocol):
    async def publish(self, topic: str, event: Event) -> None:
        """Deliver ``event`` to every subscriber of ``topic`` on every instance."""

    def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Call ``handler(topic, event)`` on the event loop for each event; must not block."""

    async def ready(self) -> None:
        """Return once events published anywhere reach this instance's subscribers."""

    async def close(self) -> None:
        """Release connections and stop background tasks."""
