"""The in-process event bus of the embedded mode."""

from __future__ import annotations

import logging
from collections import defaultdict

from livemarket.bus.events import Event, Handler

log = logging.getLogger(__name__)


class _MemorySubscription:
    def __init__(self, bus: InProcessBus, topic: str, handler: Handler) -> None:
        self._bus = bus
        self._topic = topic
        self._handler = handler

    def close(self) -> None:
        self._bus._remove(self._topic, self._handler)


class InProcessBus:
    """Delivers synchronously to handlers in this process; handlers must not block."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    async def publish(self, topic: str, event: Event) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(topic, event)
            except Exception:  # one bad subscriber must not stop the others
                log.exception("event handler failed for %s", topic)

    def subscribe(self, topic: str, handler: Handler) -> _MemorySubscription:
        self._handlers[topic].append(handler)
        return _MemorySubscription(self, topic, handler)

    def _remove(self, topic: str, handler: Handler) -> None:
        handlers = self._handlers.get(topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[topic]

    async def ready(self) -> None:
        """Always ready: delivery is a function call."""

    async def close(self) -> None:
        self._handlers.clear()
