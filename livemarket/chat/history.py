"""The last messages of a room, kept in memory for the ``hello`` snapshot (no I/O).

Messages are the chat events themselves (dicts shaped like the ``chat`` frame,
plus the internal ``_author`` key used to ban by message).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

HISTORY_SIZE = 50

Message = Mapping[str, Any]


class RecentMessages:
    """The newest ``size`` undeleted messages, oldest first."""

    def __init__(self, messages: Iterable[Message] = (), size: int = HISTORY_SIZE) -> None:
        self._messages: deque[Message] = deque(messages, maxlen=size)

    def add(self, message: Message) -> None:
        self._messages.append(message)

    def remove(self, message_id: int) -> Message | None:
        """Forget a deleted message; returns it when it was still here."""
        for message in self._messages:
            if message["id"] == message_id:
                self._messages.remove(message)
                return message
        return None

    def find(self, message_id: int) -> Message | None:
        for message in self._messages:
            if message["id"] == message_id:
                return message
        return None

    def remove_author(self, author_key: str) -> list[int]:
        """Forget every message of a banned author; returns their ids."""
        gone = [m["id"] for m in self._messages if m.get("_author") == author_key]
        if gone:
            kept = [m for m in self._messages if m.get("_author") != author_key]
            self._messages.clear()
            self._messages.extend(kept)
        return gone

    def snapshot(self) -> list[Message]:
        return list(self._messages)
