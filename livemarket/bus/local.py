"""This process's subscribers, by topic: what both bus backends deliver to."""

from __future__ import annotations

import logging
from collections import defaultdict

from livemarket.bus.events import Event, Handler

log = logging.getLogger(__name__)


class HandlerSubscription:
    """Returned by ``subscribe``; ``close`` stops delivery to its handler."""

    def __init__(self, handlers: LocalHandlers, topic: str, handler: Handler) -> None:
        self._handlers = handlers
        self._topic = topic
        self._handler = handler

    def close(self) -> None:
        self._handlers.remove(self._topic, self._handler)


class LocalHandlers:
    """Handlers by topic, called synchronously; one failing handler never stops the rest."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Handler]] = defaultdict(list)

    def add(self, topic: str, handler: Handler) -> HandlerSubscription:
        self._by_topic[topic].append(handler)
        return HandlerSubscription(self, topic, handler)

    def remove(self, topic: str, handler: Handler) -> None:
        handlers = self._by_topic.get(topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._by_topic[topic]

    def wanted(self, topic: str) -> bool:
        """True when someone here listens to ``topic`` (skip decoding otherwise)."""
        return topic in self._by_topic

    def deliver(self, topic: str, event: Event) -> None:
        for handler in list(self._by_topic.get(topic, ())):
            try:
                handler(topic, event)
            except Exception:  # one bad subscriber must not stop the others
                log.exception("event handler failed for %s", topic)

    def clear(self) -> None:
        self._by_topic.clear()
