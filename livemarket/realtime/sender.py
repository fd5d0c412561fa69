"""One frame written to many sockets from a few threads at once.

Why: a fan-out is one ``send`` per viewer, and on loopback most of each send's
~9 µs is the kernel's (the sender also pays the receiver's TCP processing and
wake-up). CPython releases the GIL around ``os.write``, so while one thread is in
the kernel another can be too. Measured with ``bench/fanout.py`` on 2 shared
cores: a fan-out to 10,000 sockets took ~120-135 ms (median) through the
transports, ~70 ms with one worker beside the loop thread; more workers than
cores only compete with each other and the rest of the machine. Writing to the
descriptor also skips the transport's Python bookkeeping per socket.

What this module may touch, and why that is safe with asyncio transports:

* It is given **file descriptors and bytes**, never a transport (transports are
  not thread-safe and are only ever used on the loop thread). The caller (the
  fan-out, on the loop thread) hands over only sockets whose transport has an
  empty write buffer and is not closing, so the next bytes on the wire are this
  frame's, whichever thread writes them.
* :meth:`ParallelSender.send` returns only after every worker is done with the
  frame; until then the loop thread is inside ``send`` (writing its own share),
  so no callback runs: nothing can be written ahead of or behind this frame on
  any of these sockets, and no socket can be closed (asyncio closes a
  transport's socket on the loop thread only), so a descriptor cannot be closed
  and reused under a worker. Per socket the order is therefore: everything
  before the fan-out, this frame, everything after.
* Whatever a socket did not take (a partial write, ``EAGAIN``, or an error such
  as a reset by a client that left during the fan-out) comes back as
  ``(index, sent)``; the caller writes ``data[sent:]`` through the transport,
  which queues it before anything else can be written (order kept), or meets
  the same error and closes the connection through asyncio's usual path.
* A connection the server is closing (close frame written, transport closing)
  is never handed over: its descriptor is not offered (``TransportSink``).

Work is split in chunks taken from a shared counter, so a thread that is
descheduled for a while does not hold back the rest; the counter and the
shared list of leftovers are only touched under the job's lock.
"""

from __future__ import annotations

import logging
import os
import threading
from queue import SimpleQueue

#: Below this many sockets the loop thread writes them all itself (a hand-off costs more).
MIN_PARALLEL = 256
#: Sockets a thread takes at a time.
CHUNK = 64

log = logging.getLogger(__name__)

Leftover = tuple[int, int]  # (index in fds, bytes already written)


def write_all(fds: list[int], data: bytes, start: int, stop: int, out: list[Leftover]) -> None:
    """Write ``data`` to ``fds[start:stop]`` without blocking; note what was not taken."""
    size = len(data)
    write = os.write
    for index in range(start, stop):
        try:
            sent = write(fds[index], data)
        except OSError:  # EAGAIN, or a reset: the transport deals with it on the loop
            sent = 0
        if sent != size:
            out.append((index, sent))


class _Job:
    """One frame for many sockets, shared by the threads writing it."""

    __slots__ = ("chunk", "data", "fds", "left", "lock", "next")

    def __init__(self, fds: list[int], data: bytes, chunk: int) -> None:
        self.fds, self.data, self.chunk = fds, data, chunk
        self.next = 0
        self.lock = threading.Lock()
        self.left: list[Leftover] = []

    def run(self) -> None:
        """Take chunks until none is left; record leftovers."""
        left: list[Leftover] = []
        total, chunk = len(self.fds), self.chunk
        while True:
            with self.lock:
                start = self.next
                self.next = start + chunk
            if start >= total:
                break
            write_all(self.fds, self.data, start, min(start + chunk, total), left)
        if left:
            with self.lock:
                self.left.extend(left)


class ParallelSender:
    """The loop thread plus ``workers`` threads writing one frame to many sockets.

    ``workers=0`` writes everything on the calling thread (no threads started).
    """

    def __init__(
        self, workers: int = 1, *, min_parallel: int = MIN_PARALLEL, chunk: int = CHUNK
    ) -> None:
        self.workers = workers
        self.min_parallel = min_parallel
        self.chunk = chunk
        self._inboxes: list[SimpleQueue[_Job | None]] = []
        self._done: SimpleQueue[None] = SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.workers):
            inbox: SimpleQueue[_Job | None] = SimpleQueue()
            thread = threading.Thread(
                target=self._work, args=(inbox,), name=f"fanout-send-{n}", daemon=True
            )
            self._inboxes.append(inbox)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Stop the workers (after the frame in hand, if any) and wait for them."""
        for inbox in self._inboxes:
            inbox.put(None)
        for thread in self._threads:
            thread.join()
        self._inboxes.clear()
        self._threads.clear()

    def _work(self, inbox: SimpleQueue[_Job | None]) -> None:
        while (job := inbox.get()) is not None:
            try:
                job.run()
            except Exception:  # only a bug gets here; the loop must never wait forever
                log.exception("fan-out send thread failed")
            finally:
                self._done.put(None)

    def send(self, fds: list[int], data: bytes) -> list[Leftover]:
        """Write ``data`` to every descriptor; return ``(index, sent)`` for each socket
        that took less than all of it, in index order. Returns when no thread is
        writing any more."""
        if len(fds) < self.min_parallel or not self._inboxes:
            left: list[Leftover] = []
            write_all(fds, data, 0, len(fds), left)
            return left
        job = _Job(fds, data, self.chunk)
        for inbox in self._inboxes:
            inbox.put(job)
        try:
            job.run()
        finally:
            for _ in self._inboxes:
                self._done.get()
        job.left.sort()
        return job.left
