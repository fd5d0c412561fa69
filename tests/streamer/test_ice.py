"""ICE settings: no outside server unless configured, chosen host addresses, public address."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from livemarket.config import load_settings
from livemarket.streamer.ice import IceConfig, announce_public_address, host_addresses


def test_no_stun_server_by_default() -> None:
    """With no ICE servers configured the list is explicitly empty (aiortc would use Google's)."""
    config = IceConfig.from_settings(load_settings({}))
    assert config.rtc_configuration().iceServers == []


def test_configured_servers_and_turn_credentials() -> None:
    """STUN URLs pass through; turn:user:pass@host carries credentials."""
    config = IceConfig(servers=("stun:stun.example:3478", "turn:u:secret@turn.example:3478"))
    stun, turn = config.rtc_configuration().iceServers or []
    assert stun.urls == "stun:stun.example:3478"
    assert (turn.urls, turn.username, turn.credential) == ("turn:turn.example:3478", "u", "secret")


async def test_host_addresses_limit_the_candidates() -> None:
    """Inside the block only the chosen addresses are offered (127.0.0.1 for tests)."""
    pc = RTCPeerConnection(IceConfig().rtc_configuration())
    try:
        pc.addTransceiver("video", direction="recvonly")
        with host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        candidates = [
            line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")
        ]
        assert candidates
        assert all(" 127.0.0.1 " in line for line in candidates)
    finally:
        await pc.close()


def test_public_address_replaces_host_candidates() -> None:
    """Behind NAT the announced address replaces host candidates and the c= line."""
    sdp = (
        "v=0\r\nc=IN IP4 10.0.0.5\r\n"
        "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "a=candidate:def 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 10.0.0.5 rport 1\r\n"
    )
    out = announce_public_address(sdp, "203.0.113.9")
    assert "203.0.113.9 40000 typ host" in out
    assert "c=IN IP4 203.0.113.9" in out
    assert "198.51.100.1 40000 typ srflx" in out
    assert announce_public_address(sdp, "") == sdp
