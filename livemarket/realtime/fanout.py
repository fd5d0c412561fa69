"""The fan-out core: rooms of connections, bounded per-client buffers, coalescing.

No aiohttp here: a connection writes to a :class:`Sink` (a transport in
production, a list in tests) and a room schedules its work on a
:class:`Scheduler` (the event loop).

How one event reaches every viewer of a room:

1. ``Room.publish`` numbers it (``seq``, per room), encodes it to JSON once and
   puts it in the room's outbox. Events that carry a state (``stock`` per
   product, ``viewers``, ``likes``) replace the outbox entry with the same key:
   only the newest value is worth sending.
2. The outbox is flushed at once when the room was quiet for ``window_s``, else
   at the end of the window: under load every viewer gets one frame per window
   (a ``batch`` when several events are due), so the cost per viewer does not
   grow with the chat rate.
3. The frame is built once and written to each connection without awaiting
   anyone: straight to the socket (``Sender``: ``sender.py`` writes from a few
   threads at once) when its transport holds nothing, else through the
   transport. A connection whose transport already holds more than
   ``HIGH_WATER`` bytes (the client is not reading) gets the events queued
   instead, coalesced by key; a drain timer retries it every ``DRAIN_S``.

Drop policy: a connection is dropped (its transport aborted) when its queue
exceeds ``MAX_PENDING`` events or it stays backlogged for ``STALL_S`` seconds.
A slow client therefore costs a bounded amount of memory and never delays the
others; it reconnects and resumes from a fresh snapshot.
"""

from __future__ import annotations

import bisect
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from livemarket.bus import catalogue
from livemarket.realtime.frames import batch, close_frame, encode, text_frame

HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
MAX_PENDING = 500
STALL_S = 10.0
DRAIN_S = 0.05
REPLAY_SIZE = 1000
#: Events that carry a state: only the newest per key matters.
STATE_TYPES = {catalogue.STOCK, catalogue.VIEWERS, catalogue.LIKES}
#: Replayed on resume, after the fresh snapshot (which holds every state: status, deals,
#: counts, pins); clients drop chat they already have by id.
REPLAYED_TYPES = {catalogue.CHAT, catalogue.CHAT_DELETED}


class Sink(Protocol):
    def write(self, data: bytes) -> None:
        """Queue bytes on the connection without blocking."""

    def buffered(self) -> int:
        """Bytes written but not yet accepted by the network."""

    def close(self, last: bytes) -> None:
        """Write ``last`` (a close frame), then close once it is flushed."""

    def abort(self) -> None:
        """Drop the connection now, discarding what is buffered."""

    def direct_fd(self) -> int:
        """The socket's descriptor if bytes may be written to it directly now (nothing
        buffered, not closing), else -1 (see ``sender.py``)."""


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Sender(Protocol):
    def send(self, fds: list[int], data: bytes) -> list[tuple[int, int]]:
        """Write ``data`` to every descriptor; ``(index, sent)`` for those that took less."""


class Scheduler(Protocol):
    def time(self) -> float: ...

    def call_soon(self, callback: Callable[[], object]) -> Any: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle: ...


def state_key(event: Mapping[str, Any]) -> str | None:
    """The coalescing key of a state-carrying event, else ``None``."""
    kind = event.get("type")
    if kind not in STATE_TYPES:
        return None
    if kind == catalogue.STOCK:
        return f"stock:{event.get('product_id')}"
    return str(kind)


class Outgoing:
    """One encoded event on its way out."""

    __slots__ = ("key", "kind", "seq", "text")

    def __init__(self, seq: int, kind: str, key: str | None, text: str) -> None:
        self.seq = seq
        self.kind = kind
        self.key = key
        self.text = text


class Connection:
    """One viewer socket in a room: a sink plus the events it could not take yet."""

    __slots__ = ("_keyed", "_pending", "backlogged_since", "closed", "info", "on_drop", "sink")

    def __init__(self, sink: Sink, info: Any = None) -> None:
        self.sink = sink
        self.info = info
        self.closed = False
        self._pending: list[str | None] | None = None
        self._keyed: dict[str, int] | None = None
        self.backlogged_since = 0.0
        self.on_drop: Callable[[Connection, str], None] | None = None

    @property
    def backlogged(self) -> bool:
        return self._pending is not None

    def pending_count(self) -> int:
        return 0 if self._pending is None else len(self._pending)

    def send(self, text: str, now: float = 0.0) -> None:
        """Send one encoded event to this connection alone (hello, error, pong)."""
        if self.closed:
            return
        if self._pending is None and self.sink.buffered() <= HIGH_WATER:
            self.sink.write(text_frame(text))
        else:
            self.queue((Outgoing(0, "", None, text),), now)

    def queue(self, items: Iterable[Outgoing], now: float) -> None:
        """Keep events for later, newest value per key; drops the connection when full."""
        if self._pending is None:
            self._pending, self._keyed = [], {}
            self.backlogged_since = now
        pending, keyed = self._pending, self._keyed
        assert keyed is not None
        for item in items:
            if item.key is not None and item.key in keyed:
                pending[keyed[item.key]] = item.text
                continue
            if item.key is not None:
                keyed[item.key] = len(pending)
            pending.append(item.text)
        if len(pending) > MAX_PENDING:
            self.drop("too_slow")

    def drain(self, now: float) -> None:
        """Write the queued events as one frame once the transport has room again."""
        if self._pending is None or self.closed:
            return
        if self.sink.buffered() > LOW_WATER:
            if now - self.backlogged_since > STALL_S:
                self.drop("stalled")
            return
        texts = [t for t in self._pending if t is not None]
        self._pending = self._keyed = None
        if texts:
            self.sink.write(text_frame(texts[0] if len(texts) == 1 else batch(texts)))

    def drop(self, reason: str) -> None:
        """Abort the connection (slow or dead client); the room forgets it."""
        if self.closed:
            return
        self.closed = True
        self._pending = self._keyed = None
        self.sink.abort()
        if self.on_drop is not None:
            self.on_drop(self, reason)

    def close(self, code: int, reason: str = "", last: str | None = None) -> None:
        """Close politely: optionally one last event, then a close frame."""
        frames = (text_frame(last) if last is not None else b"") + close_frame(code, reason)
        self.end(frames)

    def end(self, frames: bytes) -> None:
        """Write ``frames`` (ending with a close frame already built), then close."""
        if self.closed:
            return
        self.closed = True
        self._pending = self._keyed = None
        self.sink.close(frames)
        if self.on_drop is not None:
            self.on_drop(self, "closed")


class FlushTimes:
    """How long each fan-out took, as histogram buckets (for ``/metrics``).

    Timed once per flush, not per socket: one clock read on each side of the writes.
    """

    BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)
        self.total_s = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.BOUNDS, seconds)] += 1
        self.total_s += seconds


class Room:
    """The viewers of one special on this instance and the events on their way to them."""

    def __init__(
        self,
        name: object,
        scheduler: Scheduler,
        *,
        window_s: float = 0.1,
        replay_size: int = REPLAY_SIZE,
        sender: Sender | None = None,
        flush_times: FlushTimes | None = None,
    ) -> None:
        self.name = name
        self._sender = sender
        self._flush_times = flush_times
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.connections: set[Connection] = set()
        self._scheduler = scheduler
        self._window_s = window_s
        self._outbox: list[Outgoing] = []
        self._outbox_keys: dict[str, int] = {}
        self._flush_handle: Any = None
        self._last_flush = -1e9
        self._replay: deque[Outgoing] = deque(maxlen=replay_size)
        self._drain_handle: TimerHandle | None = None
        self.delivered = 0

    # -- membership ----------------------------------------------------------
    def add(self, connection: Connection) -> None:
        connection.on_drop = self._forget
        self.connections.add(connection)

    def remove(self, connection: Connection) -> None:
        self.connections.discard(connection)

    def _forget(self, connection: Connection, _reason: str) -> None:
        self.connections.discard(connection)

    def send_to(self, connection: Connection, text: str) -> None:
        """Send an encoded event to one connection, under the same buffer policy."""
        connection.send(text, self._scheduler.time())
        if connection.backlogged:
            self._schedule_drain()

    # -- publishing -----------------------------------------------------------
    def publish(self, event: Mapping[str, Any]) -> int:
        """Number, encode and queue an event for every connection; returns its ``seq``."""
        self.seq += 1
        kind = str(event.get("type", ""))
        key = state_key(event)
        item = Outgoing(self.seq, kind, key, encode({**event, "seq": self.seq}))
        self._replay.append(item)
        if key is not None and key in self._outbox_keys:
            self._outbox[self._outbox_keys[key]] = item
        else:
            if key is not None:
                self._outbox_keys[key] = len(self._outbox)
            self._outbox.append(item)
        self._schedule_flush()
        return self.seq

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        wait = self._last_flush + self._window_s - self._scheduler.time()
        if wait <= 0:
            self._flush_handle = self._scheduler.call_soon(self.flush)
        else:
            self._flush_handle = self._scheduler.call_later(wait, self.flush)

    def flush(self) -> None:
        """Send the outbox to every connection as one frame."""
        self._flush_handle = None
        items, self._outbox, self._outbox_keys = self._outbox, [], {}
        if not items:
            return
        started = time.perf_counter()
        now = self._scheduler.time()
        self._last_flush = now
        texts = [item.text for item in items]
        frame = text_frame(texts[0] if len(texts) == 1 else batch(texts))
        sender = self._sender
        direct: list[Connection] = []
        fds: list[int] = []
        backlogged = False
        for connection in list(self.connections):
            sink = connection.sink
            if not connection.backlogged:
                fd = -1 if sender is None else sink.direct_fd()
                if fd >= 0:
                    direct.append(connection)
                    fds.append(fd)
                    continue
                if sink.buffered() <= HIGH_WATER:
                    sink.write(frame)
                    continue
            connection.queue(items, now)
            backlogged = backlogged or not connection.closed
        if fds:
            assert sender is not None
            # Sockets that took less than the whole frame finish it through their
            # transport, before anything else can be written to them.
            for index, sent in sender.send(fds, frame):
                direct[index].sink.write(frame[sent:])
        self.delivered += len(items) * len(self.connections)
        if backlogged:
            self._schedule_drain()
        if self._flush_times is not None:
            self._flush_times.add(time.perf_counter() - started)

    def _schedule_drain(self) -> None:
        if self._drain_handle is None:
            self._drain_handle = self._scheduler.call_later(DRAIN_S, self._drain)

    def _drain(self) -> None:
        self._drain_handle = None
        now = self._scheduler.time()
        still = False
        for connection in list(self.connections):
            if connection.backlogged:
                connection.drain(now)
                still = still or connection.backlogged
        if still:
            self._schedule_drain()

    # -- resume ---------------------------------------------------------------
    def missed_since(self, epoch: str, seq: int) -> list[str] | None:
        """Events after ``seq`` worth replaying to a reconnecting client, or ``None``
        when they are no longer all here (another room life, or too long ago)."""
        if epoch != self.epoch or seq > self.seq:
            return None
        if seq == self.seq:
            return []
        if not self._replay or self._replay[0].seq > seq + 1:
            return None
        return [
            item.text for item in self._replay if item.seq > seq and item.kind in REPLAYED_TYPES
        ]

    # -- shutdown -------------------------------------------------------------
    def close_all(self, code: int, reason: str) -> None:
        for connection in list(self.connections):
            connection.close(code, reason)
        self.connections.clear()
        self.cancel_timers()

    def cancel_timers(self) -> None:
        for handle in (self._flush_handle, self._drain_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._drain_handle = None


class Hub:
    """The rooms of this instance, by key (the special id)."""

    def __init__(
        self, scheduler: Scheduler, *, window_s: float = 0.1, sender: Sender | None = None
    ) -> None:
        self._scheduler = scheduler
        self._window_s = window_s
        self._sender = sender
        self.rooms: dict[object, Room] = {}
        self.flush_times = FlushTimes()

    @property
    def sender(self) -> Sender | None:
        """What writes this instance's fan-outs directly (None: through the transports)."""
        return self._sender

    def room(self, name: object) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(
                name,
                self._scheduler,
                window_s=self._window_s,
                sender=self._sender,
                flush_times=self.flush_times,
            )
        return room

    def discard_if_empty(self, name: object) -> bool:
        room = self.rooms.get(name)
        if room is not None and not room.connections:
            room.cancel_timers()
            del self.rooms[name]
            return True
        return False

    def connection_count(self) -> int:
        return sum(len(room.connections) for room in self.rooms.values())

    def close_all(self, code: int, reason: str) -> None:
        for room in list(self.rooms.values()):
            room.close_all(code, reason)
        self.rooms.clear()


def error_event(code: str, message: str, **details: Any) -> str:
    """An encoded ``error`` frame."""
    return encode({"type": catalogue.ERROR, "code": code, "message": message, **details})
