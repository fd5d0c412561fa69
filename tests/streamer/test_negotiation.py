"""Negotiation with hostile offers: refused as 400, within a deadline, peers closed for good."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcconfiguration import RTCConfiguration

from livemarket.errors import DomainError, ErrorKind
from livemarket.streamer.ice import IceConfig, host_addresses
from livemarket.streamer.negotiation import NegotiationTimeout, answer, close_peer
from livemarket.streamer.registry import RelayRegistry
from tests.streamer.peers import LOOPBACK
from tests.streamer.sdp_mutations import issue_offer

ICE = IceConfig(host_addresses=LOOPBACK)


def _udp_sockets() -> int:
    import psutil

    return len(psutil.Process().net_connections(kind="udp"))


async def _viewer_offer() -> str:
    """A real recvonly offer, video first (as in the reported case)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    with host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return str(pc.localDescription.sdp)


async def _settle_udp(expected: int) -> int:
    async with asyncio.timeout(10):
        while (count := _udp_sockets()) != expected:
            await asyncio.sleep(0.05)
    return count


async def test_a_peer_whose_close_raises_is_closed_by_hand_and_stays_closable() -> None:
    """The reported offer makes aiortc's answer and close raise; ``close_peer`` still frees
    the sockets and leaves ``pc.close()`` returning (it used to wait forever).

    This also guards the private aiortc name ``close_peer`` resolves (aiortc is pinned).
    """
    offer = issue_offer(await _viewer_offer())
    before = _udp_sockets()
    pc = RTCPeerConnection(ICE.rtc_configuration())
    with pytest.raises(DomainError) as refused:
        await answer(pc, offer, ICE)
    assert refused.value.code == "invalid_sdp"
    assert refused.value.kind is ErrorKind.MALFORMED
    with pytest.raises(AttributeError):
        await pc.close()  # aiortc's own close fails part-way on this peer...
    async with asyncio.timeout(3):
        await close_peer(pc, timeout_s=0.5)  # ...so the relay's finishes the job
    async with asyncio.timeout(1):
        await pc.close()  # and a later close returns at once
    gc.collect()
    assert await _settle_udp(before) == before


async def test_a_negotiation_past_its_deadline_is_refused_and_frees_everything() -> None:
    """An offer not answered within the deadline is 503 negotiation_timeout; the seat is
    free at once and the half-made peer's sockets are closed."""
    offer = await _viewer_offer()
    before = _udp_sockets()
    registry = RelayRegistry(
        ICE, capacity_per_special=1, capacity_per_server=1, negotiate_timeout_s=0.0
    )
    try:
        with pytest.raises(NegotiationTimeout) as late:
            await registry.play(1, offer, "203.0.113.9")
        assert late.value.details["retry_after"] > 0
        assert registry.total_viewers == 0
        assert registry.seats.pending_for("203.0.113.9") == 0
    finally:
        async with asyncio.timeout(10):
            await registry.close()
    gc.collect()
    assert await _settle_udp(before) == before
