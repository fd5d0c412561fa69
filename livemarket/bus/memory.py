"""The in-process event bus of the embedded mode."""

from __future__ import annotations

from livemarket.bus.events import Event, Handler
from livemarket.bus.local import HandlerSubscription, LocalHandlers


class InProcessBus:
    """Delivers synchronously to handlers in this process; handlers must not block."""

    def __init__(self) -> None:
        self._handlers = LocalHandlers()

    async def publish(self, topic: str, event: Event) -> None:
        self._handlers.deliver(topic, event)

    def subscribe(self, topic: str, handler: Handler) -> HandlerSubscription:
        return self._handlers.add(topic, handler)

    async def ready(self) -> None:
        """Always ready: delivery is a function call."""

    async def close(self) -> None:
        self._handlers.clear()
