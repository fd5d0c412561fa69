"""The threaded sender on plain socket pairs (no loop): who got what, and what was left."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from livemarket.realtime.sender import ParallelSender


@pytest.fixture
def sender() -> Iterator[ParallelSender]:
    """Two workers beside the caller, used even for a handful of sockets, small chunks."""
    sender = ParallelSender(2, min_parallel=1, chunk=3)
    sender.start()
    yield sender
    sender.close()


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made = [socket.socketpair() for _ in range(40)]
    for ours, theirs in made:
        ours.setblocking(False)
        theirs.setblocking(False)
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()


def read_all(sock: socket.socket) -> bytes:
    """What is waiting on ``sock`` (bounded by its receive buffer)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_every_socket_gets_every_frame_in_order(
    sender: ParallelSender, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """Frames written by several threads arrive whole and in order on every socket."""
    fds = [ours.fileno() for ours, _ in pairs]
    frames = [f"frame {i};".encode() * (i + 1) for i in range(30)]
    for data in frames:
        assert sender.send(fds, data) == []
    for _, theirs in pairs:
        assert read_all(theirs) == b"".join(frames)


def test_what_a_full_socket_did_not_take_is_reported(
    sender: ParallelSender, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """A socket whose buffer fills takes part of the frame; the rest is left to the caller."""
    stuck, _ = pairs[5]
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = b"x" * (1 << 20)  # more than any socket pair buffers
    fds = [ours.fileno() for ours, _ in pairs]
    left = sender.send(fds, data)
    assert [index for index, _ in left] == list(range(len(pairs)))  # sorted by index
    assert all(0 < sent < len(data) for _, sent in left)
    # What each socket took is exactly the start of the frame.
    for (_, theirs), (_, sent) in zip(pairs, left, strict=True):
        assert read_all(theirs) == data[:sent]


def test_a_closed_peer_is_left_to_the_caller_not_raised(
    sender: ParallelSender, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """A socket whose peer went away is reported with nothing sent; the others get the frame."""
    pairs[7][1].close()
    fds = [ours.fileno() for ours, _ in pairs]
    assert sender.send(fds, b"hello") == [(7, 0)]
    for index, (_, theirs) in enumerate(pairs):
        if index != 7:
            assert read_all(theirs) == b"hello"


def test_without_workers_the_caller_writes_alone(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    """``workers=0`` (or a fan-out below ``min_parallel``) starts no thread and still delivers."""
    alone = ParallelSender(0)
    alone.start()
    fds = [ours.fileno() for ours, _ in pairs]
    assert alone.send(fds, b"a") == []
    assert alone.send(fds, b"b") == []
    alone.close()
    assert all(read_all(theirs) == b"ab" for _, theirs in pairs)


def test_close_stops_the_workers(sender: ParallelSender) -> None:
    """Closing joins every worker thread."""
    threads = list(sender._threads)
    assert len(threads) == 2
    sender.close()
    assert not any(thread.is_alive() for thread in threads)
