"""Segmented UDP sends: the runs a frame's datagrams are cut into, and delivery on loopback."""

from __future__ import annotations

import socket

import pytest

from livemarket.streamer import udpsend
from livemarket.streamer.udpsend import MAX_SEGMENTS, DatagramSocket, segment_runs


def test_equal_datagrams_and_a_shorter_last_make_one_run() -> None:
    assert segment_runs([1200, 1200, 1200, 700]) == [(0, 4)]
    assert segment_runs([1200]) == [(0, 1)]
    assert segment_runs([]) == []


def test_a_longer_datagram_starts_a_new_run() -> None:
    """Only the last datagram of a run may be shorter (H.264 FU-A sizes differ by one)."""
    assert segment_runs([100, 1201, 1201, 1200, 1200, 50]) == [(0, 1), (1, 4), (4, 6)]


def test_runs_respect_the_kernel_limits() -> None:
    runs = segment_runs([1000] * 100)
    assert all(end - start <= MAX_SEGMENTS for start, end in runs)
    assert all((end - start) * 1000 <= 65000 for start, end in runs)
    assert runs[0][0] == 0 and runs[-1][1] == 100


@pytest.mark.parametrize("segmentation", [True, False])
def test_datagrams_arrive_whole_and_in_order_on_loopback(
    monkeypatch: pytest.MonkeyPatch, segmentation: bool
) -> None:
    """Segmented or one by one (no kernel support), the receiver sees the original datagrams."""
    if not segmentation:
        monkeypatch.setattr(udpsend, "_segmentation", False)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        sender.bind(("127.0.0.1", 0))

        class Transport:  # what DatagramSocket needs of an asyncio transport
            def get_extra_info(self, name: str) -> socket.socket:
                assert name == "socket"
                return sender

        out = DatagramSocket(Transport())
        datagrams = [bytes([i]) * 1200 for i in range(5)] + [b"tail"]
        assert out.send(datagrams, receiver.getsockname())
        assert [receiver.recv(2000) for _ in datagrams] == datagrams
        out.close()
        assert sender.fileno() != -1  # only the duplicate was closed
    finally:
        receiver.close()
        sender.close()
