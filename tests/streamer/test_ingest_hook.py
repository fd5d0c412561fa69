"""The private aiortc names the relay stands on: fails loudly if aiortc moves them."""

from __future__ import annotations

import queue

import aiortc
from aioice import Candidate
from aioice.ice import CandidatePair, StunProtocol
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.streamer.ingest import (
    DECODER_QUEUE_ATTR,
    JITTER_BUFFER_ATTR,
    FrameTap,
    tap_receiver,
)
from livemarket.streamer.jitter import LossAwareJitterBuffer
from livemarket.streamer.rtpout import _SR_NTP, _SR_OCTETS, _SR_PACKETS, _SR_RTP, ViewerOutput

_HOST = "1 1 udp 2130706431 127.0.0.1 9 typ host"


def test_aiortc_is_the_pinned_version() -> None:
    """The hook was verified against aiortc 1.16.0; another version needs re-checking."""
    assert aiortc.__version__ == "1.16.0"


async def test_receiver_still_has_the_private_decoder_queue() -> None:
    """RTCRtpReceiver keeps its encoded frames on a queue.Queue under the mangled name."""
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        assert isinstance(getattr(receiver, DECODER_QUEUE_ATTR), queue.Queue)
        # the other private names the relay uses
        assert callable(receiver._send_rtcp_pli)
        sender = pc.getTransceivers()[0].sender
        assert callable(sender._send_keyframe)
        tap = tap_receiver(receiver, lambda codec, frame: None, on_loss=lambda: None)
        assert getattr(receiver, DECODER_QUEUE_ATTR) is tap
        assert isinstance(getattr(receiver, JITTER_BUFFER_ATTR), LossAwareJitterBuffer)
    finally:
        await pc.close()


async def test_sender_still_has_the_private_names_the_viewer_output_uses() -> None:
    """ViewerOutput sends around the sender: its SSRCs, SR counters, RTCP hooks, transports."""
    from aiortc.rtcdtlstransport import State

    from livemarket.streamer.tracks import HeldTrack

    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver(HeldTrack("video"), direction="sendonly").sender
        for name in (_SR_NTP, _SR_RTP, _SR_OCTETS, _SR_PACKETS):
            assert isinstance(getattr(sender, name), int), name
        assert isinstance(sender._ssrc, int) and isinstance(sender._rtx_ssrc, int)
        dtls = sender.transport
        assert dtls._state is State.NEW and hasattr(dtls, "_tx_srtp")
        assert isinstance(dtls.transport._connection._nominated, dict)
        protocol = StunProtocol(None)  # type: ignore[arg-type]
        pair = CandidatePair(protocol, Candidate.from_sdp(_HOST))
        assert pair.protocol is protocol
        assert "transport" in StunProtocol.__annotations__  # set by connection_made
        assert pair.remote_addr == ("127.0.0.1", 9)
        ViewerOutput(sender, lambda: None)
        assert callable(sender._retransmit) and callable(sender._send_keyframe)
    finally:
        await pc.close()


def test_tap_delivers_frames_and_releases_the_decoder_thread() -> None:
    """Frames go to the callback; None (receiver stop) makes get() return None."""
    seen: list[bytes] = []
    tap = FrameTap(lambda codec, frame: seen.append(frame.data))
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    tap.put((codec, JitterFrame(b"abc", 0)))
    assert seen == [b"abc"]
    tap.put(None)
    assert tap.get() is None


def test_dtls_contexts_offer_rsa_suites_beside_ecdsa() -> None:
    """The cipher hook is in place: a DTLS context offers ECDHE-RSA suites as well as ECDSA.

    Without the RSA suites a GStreamer (RSA certificate) DTLS server finds no shared cipher.
    """
    from aiortc.rtcdtlstransport import SRTP_AES128_CM_SHA1_80, RTCCertificate
    from OpenSSL import SSL

    from livemarket.streamer import dtls

    dtls.install()
    dtls.install()  # idempotent: one wrapper
    context = RTCCertificate.generateCertificate()._create_ssl_context([SRTP_AES128_CM_SHA1_80])
    # (TLS 1.3 suites are listed too; DTLS 1.2 never uses them)
    suites = [s for s in SSL.Connection(context, None).get_cipher_list() if "-" in s]
    assert suites[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert "ECDHE-RSA-AES128-GCM-SHA256" in suites
    assert len(suites) == 8
