"""The private aiortc hook the relay stands on: fails loudly if aiortc moves it."""

from __future__ import annotations

import queue

import aiortc
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.streamer.ingest import DECODER_QUEUE_ATTR, FrameTap, tap_receiver


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
        tap = tap_receiver(receiver, lambda codec, frame: None)
        assert getattr(receiver, DECODER_QUEUE_ATTR) is tap
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
