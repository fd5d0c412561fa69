"""Chat message ids assigned in memory, so posting never waits for the database.

Persistence is batched (see ``history.py``), so an id cannot come from an
autoincrement column. Ids are ``milliseconds since 2025 << 14 | node << 8 | sequence``:
time-ordered, unique across up to 64 instances (``node``), at most 256 per
millisecond per instance (the clock is borrowed from the future beyond that,
keeping ids strictly increasing), and below 2**53 until 2042 so browsers read
them exactly as JSON numbers. Random bits could not make them unique in 53 bits;
the node is what does, so it is leased in the database (``nodes.py``), never
taken from a Redis counter that a restart sets back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from livemarket.chat.rules import unavailable

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
NODE_BITS = 6
SEQ_BITS = 8
MAX_NODE = (1 << NODE_BITS) - 1


class MessageIds:
    """Strictly increasing ids for one instance (``node`` 0..63)."""

    def __init__(self, node: int, clock_ms: Callable[[], int] | None = None) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be 0..{MAX_NODE}")
        self._node = node
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._last_ms = 0
        self._seq = 0

    @property
    def node(self) -> int:
        return self._node

    def next(self) -> int:
        now = max(self._clock_ms() - EPOCH_MS, self._last_ms)
        if now == self._last_ms:
            self._seq += 1
            if self._seq >> SEQ_BITS:
                now += 1
                self._seq = 0
        else:
            self._seq = 0
        self._last_ms = now
        return (now << (NODE_BITS + SEQ_BITS)) | (self._node << SEQ_BITS) | self._seq


class IdSource(Protocol):
    def next(self) -> int:
        """A new id, or the ``chat_unavailable`` refusal when none can be minted."""
        ...


class LeasedIds:
    """Ids minted with the node a lease holds now; refused while it holds none."""

    def __init__(
        self, node: Callable[[], int | None], clock_ms: Callable[[], int] | None = None
    ) -> None:
        self._node = node
        self._clock_ms = clock_ms
        self._ids: MessageIds | None = None

    def next(self) -> int:
        node = self._node()
        if node is None:
            raise unavailable()
        if self._ids is None or self._ids.node != node:
            self._ids = MessageIds(node, self._clock_ms)
        return self._ids.next()
